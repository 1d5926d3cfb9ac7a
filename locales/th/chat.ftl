# บทสนทนาในแชท (Telegram, LINE, เทอร์มินัล) ตัวแปรถูกจัดรูปแบบแล้ว:
# ตัวเลขมีจุลภาค (1,250) วันที่เป็น พ.ศ. (22 พ.ย. 2569)

welcome = สวัสดีค่ะ{ $has_name ->
    [no] {""}
   *[yes] {" "}คุณ{ $name }
} ยินดีต้อนรับสู่โปรแกรมสะสมแต้ม รหัสสมาชิกของคุณคือ { $code }
    สะสมแต้มทุกครั้งที่ซื้อ แลกแต้มเป็นของรางวัล และแสดงบัตรสมาชิกที่เคาน์เตอร์ได้เลย
welcome-back = ยินดีต้อนรับกลับมาค่ะ{ $has_name ->
    [no] {""}
   *[yes] {" "}คุณ{ $name }
} คุณมี { $points } แต้ม ต้องการทำอะไรดีคะ
help = สิ่งที่ทำได้:
    • แต้มของฉัน: ดูยอดแต้มและวันหมดอายุ
    • ของรางวัล: แลกแต้มเป็นคูปอง
    • คูปองของฉัน: ดูหรือคืนคูปอง
    • ประวัติ: แต้มล่าสุดของคุณ
    • บัตรสมาชิก: คิวอาร์โค้ดสำหรับแคชเชียร์
    • รับแต้ม: พิมพ์รหัสที่พิมพ์อยู่บนใบเสร็จ
    • โปรโมชั่น: แคมเปญแต้มพิเศษตอนนี้
    • ชวนเพื่อน: รับแต้มเมื่อเพื่อนซื้อครั้งแรก
    • /link ใช้แต้มเดียวกันใน Telegram และ LINE
    • /lang เปลี่ยนภาษา, /stop หยุดรับโปรโมชั่น
unknown = ขออภัยค่ะ ไม่เข้าใจข้อความนี้ กดปุ่มด้านล่างหรือพิมพ์ "ช่วยเหลือ" ได้เลย
error-generic = ขออภัยค่ะ ระบบขัดข้องชั่วคราว ไม่มีการเปลี่ยนแปลงใดๆ กรุณาลองใหม่อีกครั้ง
start-unknown-payload = ลิงก์นี้ใช้ไม่ได้แล้ว แต่คุณพร้อมใช้งานแล้วค่ะ

btn-balance = 💰 แต้มของฉัน
btn-rewards = 🎁 ของรางวัล
btn-vouchers = 🎟 คูปองของฉัน
btn-history = 🧾 ประวัติ
btn-card = 🪪 บัตรสมาชิก
btn-claim = ➕ รับแต้มจากใบเสร็จ
btn-language = 🌐 ภาษาไทย / English
btn-help = ❓ ช่วยเหลือ
btn-redeem = แลก { $name } ({ $cost })
btn-prev = ◀ ก่อนหน้า
btn-next = ถัดไป ▶
btn-back = ย้อนกลับ
btn-confirm-redeem = ✅ ยืนยันการแลก
btn-cancel-voucher = คืนคูปอง { $code }
btn-confirm-cancel = ✅ ยืนยันการคืน
btn-optin = รับโปรโมชั่นอีกครั้ง

balance-title = แต้มของคุณ
balance-total = ยอดแต้ม: { $points } แต้ม
balance-spendable = ใช้ได้ทันที { $spendable } แต้ม · รอยืนยัน { $pending } แต้ม
balance-expiry = { $points } แต้มจะหมดอายุหลังวันที่ { $date }
balance-no-expiry = ยังไม่มีแต้มที่ใกล้หมดอายุ
balance-member-code = รหัสสมาชิก:{" "}

rewards-title = ของรางวัล (คุณมี { $points } แต้ม) · หน้า { $page }/{ $pages }
rewards-empty = ตอนนี้ยังไม่มีของรางวัลให้แลก แวะมาดูใหม่เร็วๆ นี้นะคะ
reward-line = • { $name }: { $cost } แต้ม
reward-line-short = • { $name }: { $cost } แต้ม (ขาดอีก { $missing } แต้ม)
reward-line-out-of-stock = • { $name }: { $cost } แต้ม (หมดแล้ว)
reward-card = { $cost } แต้ม
reward-card-short = { $cost } แต้ม · ขาดอีก { $missing } แต้ม
reward-card-out-of-stock = { $cost } แต้ม · หมดแล้ว

redeem-confirm = แลก { $name } ด้วย { $cost } แต้ม ใช่ไหมคะ
    ยอดตอนนี้ { $balance } แต้ม · หลังแลก { $after } แต้ม
redeem-done = นี่คือคูปอง { $name } ของคุณค่ะ:
voucher-valid-until = ใช้ได้ถึง { $date }

vouchers-title = คูปองของคุณ (แสดงรหัสหรือคิวอาร์ที่เคาน์เตอร์)
voucher-line = • { $name } ใช้ได้ถึง { $date }:
vouchers-empty = ตอนนี้คุณยังไม่มีคูปองที่ใช้ได้
voucher-not-found = ไม่พบคูปองนี้ในบัญชีของคุณ
cancel-confirm = คืนคูปอง { $code } และรับ { $points } แต้มคืน ใช่ไหมคะ
cancel-done = คืนคูปองแล้ว ได้รับ { $points } แต้มคืน ยอดแต้ม { $balance } แต้ม

history-title = แต้มล่าสุดของคุณ
history-empty = ยังไม่มีแต้ม แสดงบัตรสมาชิกตอนชำระเงินเพื่อเริ่มสะสมได้เลย!
history-earn = { $date } · +{ $points } จาก { $merchant }
history-redeem = { $date } · −{ $points } แลกของรางวัล
history-clawback = { $date } · −{ $points } คืนสินค้าที่ { $merchant }
history-expire = { $date } · −{ $points } หมดอายุ
history-adjust = { $date } · ±{ $points } ร้านปรับแต้ม
history-release = { $date } · +{ $points } คืนคูปอง

card-caption = แสดงคิวอาร์โค้ดนี้ให้แคชเชียร์ หรือแจ้งรหัสสมาชิก:

claim-prompt = พิมพ์รหัสรับแต้มที่อยู่บนใบเสร็จได้เลยค่ะ (ตัวอักษรและตัวเลข 10 หลัก)
claim-done = 🎉 ได้รับ { $points } แต้มจาก { $merchant } แล้ว! ยอดแต้ม { $balance } แต้ม
claim-not-found = ไม่พบรหัสใบเสร็จนี้ กรุณาตรวจสอบแล้วลองใหม่อีกครั้ง

language-choose = เลือกภาษา:
language-name = ภาษาไทย
language-set = ต่อจากนี้จะคุยเป็นภาษาไทยนะคะ

optout-done = คุณจะไม่ได้รับโปรโมชั่นอีก แต่ยังได้รับข้อความเรื่องแต้มและคูปองตามปกติ
optin-done = คุณจะได้รับโปรโมชั่นอีกครั้ง พิมพ์ /stop เมื่อไหร่ก็หยุดได้

referral-recorded = ขอบคุณที่สมัครผ่านคำเชิญของเพื่อนค่ะ!
referral-invalid = ลิงก์คำเชิญนี้ใช้ไม่ได้ แต่คุณพร้อมใช้งานแล้วค่ะ
referral-not-new = คำเชิญใช้ได้กับสมาชิกใหม่เท่านั้น คุณเป็นสมาชิกอยู่แล้วค่ะ

# เมนูคำสั่งของ Telegram (3-256 ตัวอักษร)
cmd-start = สมัครสมาชิกหรือเปิดเมนู
cmd-balance = แต้มของฉันและวันหมดอายุ
cmd-rewards = ของรางวัลที่แลกได้
cmd-vouchers = คูปองของฉัน
cmd-history = แต้มล่าสุดของฉัน
cmd-card = บัตรสมาชิก (คิวอาร์โค้ด)
cmd-claim = รับแต้มจากรหัสใบเสร็จ
cmd-lang = ภาษาไทย / English
cmd-help = วิธีใช้งาน
cmd-stop = หยุดรับโปรโมชั่น

# ใช้สมาชิกเดียวกันทั้งใน Telegram และ LINE
link-code = หากต้องการใช้แต้มเดียวกันในแอปแชทอีกแอป (Telegram หรือ LINE) ส่งข้อความนี้ในแอปนั้นภายใน { $minutes } นาที:
link-done = เชื่อมบัญชีแล้ว! แชทนี้ใช้สมาชิก { $code } มี { $points } แต้ม
link-invalid = รหัสเชื่อมบัญชีนี้ไม่ถูกต้อง ถูกใช้ไปแล้ว หรือหมดอายุ สร้างใหม่ได้ด้วย /link ในอีกแอป
link-taken = สมาชิกนี้เชื่อมกับบัญชีอื่นในแอปนี้อยู่แล้ว
link-has-history = บัญชีนี้มีแต้มหรือประวัติของตัวเองแล้ว จึงเชื่อมไม่ได้ ให้สร้างรหัสที่นี่ด้วย /link แล้วส่งในอีกแอปแทน
link-not-here = การเชื่อมบัญชีใช้ระหว่างแอป Telegram และ LINE
cmd-link = ใช้แต้มเดียวกันใน Telegram และ LINE
promotions-none = ตอนนี้ยังไม่มีโปรโมชั่น ดูของรางวัลที่สะสมแต้มแลกได้ที่นี่:
btn-promotions = 🎉 โปรโมชั่น
btn-invite = 🤝 ชวนเพื่อน
promotions-title = โปรโมชั่น
promotion-until = ถึง { $date }
promotion-from = เริ่ม { $date }
balance-tier = ระดับสมาชิก: { $tier }
balance-next-tier = ใช้จ่ายอีก { $amount } ภายใน 12 เดือน เพื่อเป็น { $tier }
balance-top-tier = คุณอยู่ในระดับสูงสุดแล้ว ขอบคุณค่ะ
history-referral = { $date } · +{ $points } โบนัสชวนเพื่อน
referral-welcome-bonus = คุณจะได้รับโบนัส { $points } แต้มเมื่อซื้อครั้งแรก
invite-intro = ชวนเพื่อนมาเป็นสมาชิก! เมื่อเพื่อนสมัครผ่านคำเชิญของคุณและซื้อครั้งแรก คุณจะได้ { $referrer } แต้ม และเพื่อนได้ { $referee } แต้ม
invite-link = แชร์ลิงก์นี้:
invite-code = หรือให้เพื่อนส่งข้อความนี้ในแชทของเราหลังสมัคร:{" "}
cmd-invite = ชวนเพื่อนรับแต้ม
cmd-promotions = โปรโมชั่นตอนนี้

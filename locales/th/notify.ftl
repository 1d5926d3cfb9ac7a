# ข้อความแจ้งเตือนที่ระบบส่งเอง (ได้รับแต้ม คูปอง แต้มใกล้หมดอายุ ระดับสมาชิก
# การชวนเพื่อน) และข้อความแคมเปญ

notice-earned = 🎉 คุณได้รับ { $points } แต้มจาก { $merchant } ยอดแต้มคงเหลือ { $balance } แต้ม
notice-line-base = • แต้มปกติ: +{ $points }
notice-line-tier = • โบนัสระดับ { $name }: +{ $points }
notice-line-campaign = • { $name }: +{ $points }
notice-line-referral = • โบนัสชวนเพื่อน: +{ $points }
notice-voucher-issued = 🎟 คูปอง { $reward } ของคุณพร้อมใช้แล้ว ใช้ได้ถึง { $date } แสดงรหัสนี้ที่เคาน์เตอร์:{" "}
notice-voucher-used = ✅ คูปอง { $code } ({ $reward }) ถูกใช้แล้วที่ { $merchant } ขอให้อร่อยนะคะ!
notice-expiring = ⏳ { $points } แต้มจะหมดอายุหลังวันที่ { $date } อย่าลืมแลกของรางวัลก่อนนะคะ!
notice-tier-up = 🌟 ยินดีด้วย! ตอนนี้คุณเป็นสมาชิกระดับ { $tier } ได้แต้มมากขึ้นทุกการซื้อ
notice-tier-down = ระดับสมาชิกของคุณตอนนี้คือ { $tier } สะสมต่อเพื่อเลื่อนระดับอีกครั้งนะคะ
notice-referral = 🤝 เพื่อนของคุณซื้อครั้งแรกแล้ว คุณได้รับ { $points } แต้ม! ยอดแต้มคงเหลือ { $balance } แต้ม
notice-negative = มีการคืนสินค้าที่ต้องหักแต้มซึ่งคุณใช้ไปแล้ว ยอดแต้มของคุณตอนนี้คือ { $balance } แต้ม แต้มที่ได้รับครั้งต่อไปจะชดเชยส่วนนี้ก่อน
broadcast-footer = พิมพ์ "หยุด" เพื่อหยุดรับโปรโมชั่น

notice-payment-request = 💳 ใช้ { $points } แต้ม ({ $amount }) ที่ { $merchant } ใช่ไหม? ตอบก่อน { $time } น. ระหว่างนี้แต้มจะถูกกันไว้สำหรับบิลนี้
notice-payment-captured = 💳 คุณจ่าย { $amount } ด้วย { $points } แต้มที่ { $merchant } ยอดแต้มคงเหลือ { $balance } แต้ม
notice-credit-request = 💳 ใช้เครดิตร้านค้า { $amount } ที่ { $merchant } ใช่ไหม? ตอบก่อน { $time } น. ระหว่างนี้เครดิตจะถูกกันไว้สำหรับบิลนี้
notice-credit-captured = 💳 คุณจ่าย { $amount } ด้วยเครดิตร้านค้าที่ { $merchant } เครดิตคงเหลือ { $credit }

# Journeys: messages taem sends by itself (marketing: consent and quiet hours apply).
notice-journey-welcome = 👋 ยินดีต้อนรับสู่คลับสมาชิก! สะสมแต้มทุกครั้งที่ซื้อ แล้วนำไปแลกของรางวัลได้เลย
notice-journey-birthday = 🎂 สุขสันต์วันเกิด! ของขวัญเล็กๆ จากเราเพื่อฉลองเดือนเกิดของคุณ
notice-journey-winback = 💛 คิดถึงคุณนะคะ! แวะมาหาเราอีกครั้ง เรามีของต้อนรับกลับมาให้
notice-journey-near-reward = 🎯 อีกแค่ { $needed } แต้มก็แลก { $reward } ได้แล้ว! มาอีกครั้งเดียวก็ได้เลย
notice-journey-points = 🎁 เราเพิ่ม { $points } แต้มโบนัสเข้าบัญชีของคุณแล้ว
notice-journey-voucher = 🎟 คูปอง { $reward } ของคุณ แสดงรหัสนี้ที่เคาน์เตอร์:{" "}

# คอนโซลร้านค้า: หน้าจอเคาน์เตอร์และหลังร้าน

console-title = คอนโซล taem
console-signed-in-as = เข้าสู่ระบบเป็น { $email }
console-sign-out = ออกจากระบบ
console-nav-counter = เคาน์เตอร์

console-signin-title = เข้าสู่ระบบ
console-email = อีเมล
console-password = รหัสผ่าน
console-signin-button = เข้าสู่ระบบ
console-signin-failed = อีเมลหรือรหัสผ่านไม่ถูกต้อง
console-too-many-tries = ลองผิดหลายครั้งเกินไป ลองใหม่ในอีก { $minutes } นาที
console-signed-out = ออกจากระบบแล้ว

console-invite-title = ตั้งรหัสผ่าน
console-reset-title = ตั้งรหัสผ่านใหม่
console-password-again = ใส่รหัสผ่านเดิมอีกครั้ง
console-password-hint = อย่างน้อย { $min } ตัวอักษร และไม่ใช่อีเมลของคุณ
console-password-button = บันทึกและเข้าสู่ระบบ
console-password-mismatch = รหัสผ่านทั้งสองช่องไม่ตรงกัน
console-password-too-short = รหัสผ่านสั้นเกินไป ต้องมีอย่างน้อย { $min } ตัวอักษร
console-password-too-long = รหัสผ่านยาวเกินไป
console-password-like-email = รหัสผ่านต้องไม่มีอีเมลของคุณอยู่
console-password-too-simple = รหัสผ่านง่ายเกินไป
console-link-invalid = ลิงก์นี้ไม่ถูกต้อง ถูกใช้แล้ว หรือหมดอายุ ขอลิงก์ใหม่จากเจ้าของร้าน

console-counter-title = เคาน์เตอร์
console-find-label = รหัสสมาชิก เบอร์โทรศัพท์ หรือรหัสคูปอง
console-find-button = ค้นหา
console-scan-button = สแกนบัตรสมาชิก
console-member-not-found = ไม่พบสมาชิกที่มีรหัสหรือเบอร์โทรนี้
console-member-balance = { $points } แต้ม
console-member-code = สมาชิก { $code }

console-phone-add = เพิ่มเบอร์โทรศัพท์
console-phone = เบอร์โทรศัพท์
console-phone-consent = ลูกค้ายินยอมให้เก็บเบอร์นี้ไว้เพื่อค้นหาที่เคาน์เตอร์
console-phone-save = บันทึกเบอร์
console-phone-saved = บันทึกเบอร์โทรศัพท์แล้ว
console-phone-invalid = นี่ไม่ใช่เบอร์โทรศัพท์
console-phone-no-consent = ต้องได้รับความยินยอมจากลูกค้าก่อน
console-phone-taken = เบอร์นี้เป็นของสมาชิกคนอื่นแล้ว

console-redeem-title = ของรางวัล
console-redeem-button = แลก
console-redeemed = แลกแล้ว: คูปอง { $code } ใช้ได้ทันที
console-redeem-short = แต้มไม่พอสำหรับของรางวัลนี้
console-redeem-out-of-stock = ของรางวัลนี้หมดแล้ว
console-redeem-refused = สมาชิกนี้แลกของรางวัลนี้ไม่ได้ในตอนนี้

console-sale-title = บันทึกการขาย
console-merchant = ร้าน
console-sale-amount = ยอดขาย (บาท)
console-sale-receipt = เลขที่ใบเสร็จ (ไม่บังคับ)
console-sale-button = บันทึกการขาย
console-sale-recorded = บันทึกแล้ว: { $points } แต้ม ยอดแต้มคงเหลือ { $balance } แต้ม
console-sale-replayed = การขายนี้บันทึกไว้แล้ว: { $points } แต้ม ยอดแต้มคงเหลือ { $balance } แต้ม
console-sale-invalid = ตรวจสอบยอดเงิน: { $message }

console-voucher-code = คูปอง { $code }
console-voucher-valid = ใช้ได้ตอนนี้
console-voucher-use = ใช้คูปอง
console-voucher-done = ใช้แล้ว: { $reward } ของสมาชิก { $code }
console-voucher-used = คูปองนี้ใช้ไปแล้วเมื่อ { $date }
console-voucher-expired = คูปองนี้หมดอายุเมื่อ { $date }
console-voucher-cancelled = สมาชิกคืนคูปองนี้แล้ว
console-voucher-unknown = ไม่พบคูปองที่มีรหัสนี้

console-nav-staff = พนักงาน
console-nav-audit = บันทึกการเปลี่ยนแปลง
console-role-owner = เจ้าของ
console-role-manager = ผู้จัดการ
console-role-cashier = แคชเชียร์
console-all-shops = ทุกร้าน
console-staff-active = ใช้งานอยู่
console-staff-invited = เชิญแล้ว ยังไม่ได้ตั้งรหัสผ่าน
console-staff-disabled = ระงับการใช้งาน
console-staff-disable = ระงับการใช้งาน
console-save = บันทึก
console-saved = บันทึกแล้ว
console-staff-invite = เชิญพนักงาน
console-staff-name = ชื่อ
console-staff-role = บทบาท
console-staff-invite-button = เชิญ
console-staff-invited-link = เชิญ { $email } แล้ว ส่งลิงก์นี้ให้เขา ใช้ได้ครั้งเดียวภายใน 24 ชั่วโมง:
console-staff-bad-email = นี่ไม่ใช่อีเมล
console-staff-exists = มีพนักงานที่ใช้อีเมลนี้อยู่แล้ว
console-staff-not-yourself = คุณไม่สามารถลดบทบาทหรือระงับการใช้งานของตัวเองได้
console-audit-action = รายการ เช่น sale.record

console-refund-title = คืนเงินการขาย
console-refund-receipt = เลขที่ใบเสร็จของการขาย
console-refund-amount = ยอดที่คืน (บาท)
console-refund-button = คืนเงิน
console-refunded = คืนเงินแล้ว: หักคืน { $points } แต้ม ยังคืนได้อีก { $left } บาท
console-refund-too-much = ยอดนี้มากกว่าที่ยังคืนได้สำหรับการขายนี้ ({ $left } บาท)
console-refund-unknown = ไม่พบการขายของร้านนี้ที่มีเลขที่ใบเสร็จนี้

console-nav-members = สมาชิก
console-members-search = รหัส เบอร์โทร หรือต้นชื่อ
console-lots = แต้มและวันหมดอายุ
console-lot-expires = หมดอายุ { $date }
console-vouchers = คูปอง
console-history = ประวัติ
console-adjust-title = ปรับแต้ม
console-adjust-points = แต้ม (+ เพื่อเพิ่ม − เพื่อหัก)
console-adjust-reason = เหตุผล (บันทึกในประวัติและบันทึกการเปลี่ยนแปลง)
console-adjust-button = ปรับแต้ม
console-adjusted = ปรับแล้ว ยอดแต้มคงเหลือ { $balance } แต้ม
console-adjust-invalid = ใส่จำนวนแต้มเป็นจำนวนเต็มที่ไม่ใช่ 0 และใส่เหตุผล
console-adjust-below-zero = ยอดแต้มติดลบไม่ได้

console-forbidden = บทบาทของคุณทำรายการนี้ไม่ได้
console-csrf-refused = แบบฟอร์มนี้หมดอายุแล้ว โหลดหน้าใหม่แล้วลองอีกครั้ง
console-error = เกิดข้อผิดพลาด ลองใหม่อีกครั้งในอีกสักครู่

console-nav-rewards = ของรางวัล
console-form-invalid = ตรวจสอบ “{ $field }”: { $message }
console-reward-add = เพิ่มของรางวัล
console-reward-not-found = ไม่มีของรางวัลนี้
console-reward-stock-left = เหลือ { $stock }
console-reward-stock-unlimited = ไม่จำกัดจำนวน
console-reward-enabled = เปิดให้แลก
console-reward-disabled = ปิดการแลก
console-reward-enable = เปิดให้แลก
console-reward-disable = ปิดการแลก
console-reward-name-th = ชื่อภาษาไทย
console-reward-name-en = ชื่อภาษาอังกฤษ
console-reward-description-th = รายละเอียดภาษาไทย
console-reward-description-en = รายละเอียดภาษาอังกฤษ
console-reward-cost = ใช้กี่แต้ม
console-reward-stock = จำนวนที่มี (เว้นว่าง: ไม่จำกัด)
console-reward-limit = ต่อสมาชิกหนึ่งคน (เว้นว่าง: ไม่จำกัด)
console-reward-from = เริ่มให้แลกวันที่ (ไม่บังคับ)
console-reward-until = แลกได้ถึงวันที่ รวมวันนั้น (ไม่บังคับ)
console-reward-value = มูลค่าของคูปองหนึ่งใบสำหรับลูกค้า (บาท)
console-reward-voucher-days = คูปองใช้ได้กี่วัน
console-reward-picture = รูปภาพ
console-reward-picture-file = รูป JPEG หรือ PNG ไม่เกิน 1 MB รูปสี่เหลี่ยมจัตุรัสจะดูดีที่สุดในแชท
console-reward-picture-upload = อัปโหลดรูป
console-reward-picture-remove = ลบรูป
console-reward-picture-refused = ใช้รูปนี้ไม่ได้: { $message }
console-reward-picture-too-large = รูปใหญ่เกินไป: ไม่เกิน 1 MB

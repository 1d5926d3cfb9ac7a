# ข้อความเมื่อระบบแต้มปฏิเสธคำขอ แสดงต่อลูกค้าผ่านแชท
# ตัวแปรถูกจัดรูปแบบไว้แล้ว (ตัวเลขมีจุลภาค วันที่เป็น พ.ศ.)

points = { $points } แต้ม
refusal-insufficient-points = คุณมีแต้มที่ใช้ได้ { $available } แต้ม ของรางวัลนี้ใช้ { $needed } แต้ม
refusal-negative-balance = ยอดแต้มของคุณติดลบ { $balance } แต้มหลังการคืนสินค้า แลกของรางวัลได้อีกครั้งเมื่อยอดเป็นบวก
refusal-out-of-stock = ขออภัย ของรางวัลนี้หมดแล้ว
refusal-member-limit = คุณแลกของรางวัลนี้ครบจำนวนที่กำหนดแล้ว ({ $limit } ครั้ง)
refusal-reward-unavailable = ของรางวัลนี้ยังไม่เปิดให้แลกในขณะนี้
refusal-voucher-used = คูปองนี้ถูกใช้ไปแล้วเมื่อ { $date }
refusal-voucher-expired = คูปองนี้หมดอายุเมื่อ { $date }
refusal-voucher-cancelled = คูปองนี้ถูกยกเลิกแล้ว
refusal-claim-expired = รหัสใบเสร็จนี้หมดอายุเมื่อ { $date }
refusal-claim-used = รหัสใบเสร็จนี้ถูกใช้สะสมแต้มไปแล้ว
refusal-too-many-tries = ใส่รหัสผิดหลายครั้งเกินไป เพื่อความปลอดภัยของบัญชี กรุณาลองใหม่อีกครั้งใน { $minutes } นาที

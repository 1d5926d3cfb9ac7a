# The merchant console: the counter screen and the back office.

console-title = taem console
console-signed-in-as = Signed in as { $email }
console-sign-out = Sign out
console-nav-counter = Counter

console-signin-title = Sign in
console-email = Email
console-password = Password
console-signin-button = Sign in
console-signin-failed = The email or the password is wrong.
console-too-many-tries = Too many wrong tries. Try again in { $minutes } min.
console-signed-out = You are signed out.

console-invite-title = Choose your password
console-reset-title = Choose a new password
console-password-again = The same password again
console-password-hint = At least { $min } characters; not your email.
console-password-button = Save and sign in
console-password-mismatch = The two passwords are not the same.
console-password-too-short = The password is too short: at least { $min } characters.
console-password-too-long = The password is too long.
console-password-like-email = The password must not contain your email.
console-password-too-simple = The password is too simple.
console-link-invalid = This link is unknown, used or expired. Ask the owner for a new one.

console-counter-title = Counter
console-find-label = Member code, phone number or voucher code
console-find-button = Find
console-scan-button = Scan the member card
console-member-not-found = No member has this code or phone number.
console-member-balance = { $points } points
console-member-code = Member { $code }

console-phone-add = Add a phone number
console-phone = Phone number
console-phone-consent = The customer agrees to us keeping this number to find them at the counter.
console-phone-save = Save the number
console-phone-saved = The phone number is saved.
console-phone-invalid = This is not a phone number.
console-phone-no-consent = The customer's consent is needed.
console-phone-taken = This number belongs to another member.

console-redeem-title = Rewards
console-redeem-button = Redeem
console-redeemed = Redeemed: voucher { $code }. It can be used now.
console-redeem-short = Not enough points for this reward.
console-redeem-out-of-stock = This reward is out of stock.
console-redeem-refused = This reward cannot be redeemed for this member now.

console-sale-title = Record a sale
console-merchant = Shop
console-sale-amount = Amount (THB)
console-sale-receipt = Receipt number (optional)
console-sale-button = Record the sale
console-sale-recorded = Recorded: { $points } points. Balance: { $balance } points.
console-sale-replayed = This sale was recorded before: { $points } points. Balance: { $balance } points.
console-sale-invalid = Check the amount: { $message }

console-voucher-code = Voucher { $code }
console-voucher-valid = Valid: it can be used now.
console-voucher-use = Use the voucher
console-voucher-done = Used: { $reward } for member { $code }.
console-voucher-used = Already used on { $date }.
console-voucher-expired = Expired on { $date }.
console-voucher-cancelled = This voucher was given back by the member.
console-voucher-unknown = No voucher has this code.

console-nav-staff = Staff
console-nav-audit = Audit log
console-role-owner = Owner
console-role-manager = Manager
console-role-cashier = Cashier
console-all-shops = All shops
console-staff-active = active
console-staff-invited = invited, no password yet
console-staff-disabled = disabled
console-staff-disable = Disabled
console-save = Save
console-saved = Saved.
console-staff-invite = Invite someone
console-staff-name = Name
console-staff-role = Role
console-staff-invite-button = Invite
console-staff-invited-link = { $email } is invited. Give them this link; it works once, for 24 hours:
console-staff-bad-email = This is not an email address.
console-staff-exists = Someone with this email is already on the staff.
console-staff-not-yourself = You cannot demote or disable yourself.
console-audit-action = Action, e.g. sale.record

console-refund-title = Refund a sale
console-refund-receipt = Receipt number of the sale
console-refund-amount = Amount refunded (THB)
console-refund-button = Refund
console-refunded = Refunded: { $points } points taken back. Still refundable: { $left } THB.
console-refund-too-much = That is more than is still refundable on this sale ({ $left } THB).
console-refund-unknown = No sale of this shop has this receipt number.

console-nav-members = Members
console-members-search = Code, phone or the start of a name
console-lots = Points and their expiry
console-lot-expires = expire on { $date }
console-vouchers = Vouchers
console-history = History
console-adjust-title = Adjust points
console-adjust-points = Points (+ to give, − to take)
console-adjust-reason = Reason (kept in the history and the audit log)
console-adjust-button = Adjust
console-adjusted = Adjusted. Balance: { $balance } points.
console-adjust-invalid = Give a whole number of points other than 0, and a reason.
console-adjust-below-zero = The balance cannot go below zero.

console-forbidden = Your role may not do this.
console-csrf-refused = This form has expired. Reload the page and try again.
console-error = Something went wrong. Try again in a moment.

console-nav-rewards = Rewards
console-form-invalid = Check “{ $field }”: { $message }
console-reward-add = Add a reward
console-reward-not-found = There is no such reward.
console-reward-stock-left = { $stock } left
console-reward-stock-unlimited = no stock limit
console-reward-enabled = Offered
console-reward-disabled = Not offered
console-reward-enable = Offer it
console-reward-disable = Stop offering
console-reward-name-th = Name in Thai
console-reward-name-en = Name in English
console-reward-description-th = Description in Thai
console-reward-description-en = Description in English
console-reward-cost = Cost in points
console-reward-stock = Stock (empty: no limit)
console-reward-limit = Per member (empty: no limit)
console-reward-from = Offered from (optional)
console-reward-until = Offered until, this day included (optional)
console-reward-value = What one voucher is worth to the customer (THB)
console-reward-voucher-days = Days a voucher can be used
console-reward-picture = Picture
console-reward-picture-file = A JPEG or PNG picture, at most 1 MB; square looks best in the chat catalogue
console-reward-picture-upload = Upload the picture
console-reward-picture-remove = Remove the picture
console-reward-picture-refused = This picture cannot be used: { $message }
console-reward-picture-too-large = This picture is too large: at most 1 MB.

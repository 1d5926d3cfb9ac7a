# The chat conversation (Telegram, LINE, terminal). Variables arrive formatted:
# numbers grouped (1,250), dates local (22 Nov 2026).

welcome = Hello{ $has_name ->
    [no] {""}
   *[yes] {" "}{ $name }
}! Welcome to our loyalty program. Your member code is { $code }.
    Collect points with every purchase, swap them for rewards, and show your member card at the counter.
welcome-back = Welcome back{ $has_name ->
    [no] {""}
   *[yes] {" "}{ $name }
}! You have { $points } points. What would you like to do?
help = Here is what I can do:
    • My points: your balance and when points expire
    • Rewards: swap points for vouchers
    • My vouchers: show or give back a voucher
    • History: your latest points
    • Member card: a QR code for the cashier
    • Claim points: type the code printed on your receipt
    • Promotions: bonus point campaigns running now
    • Invite friends: earn points when a friend makes a first purchase
    • My phone number: the cashier can find you by it
    • /link to use the same points in Telegram and LINE
    • /lang to switch language, /stop to stop promotions
    • /privacy: how we use your data, a copy of it (/mydata), or erase it (/erase)
unknown = Sorry, I didn't understand that. Tap a button below, or type help.
error-generic = Sorry, something went wrong on our side. Nothing was changed; please try again in a moment.
start-unknown-payload = That link is not valid any more, but you are all set.

btn-balance = 💰 My points
btn-rewards = 🎁 Rewards
btn-vouchers = 🎟 My vouchers
btn-history = 🧾 History
btn-card = 🪪 Member card
btn-claim = ➕ Claim points
btn-language = 🌐 ภาษาไทย / English
btn-help = ❓ Help
btn-redeem = Redeem { $name } ({ $cost })
btn-prev = ◀ Previous
btn-next = Next ▶
btn-back = Back
btn-confirm-redeem = ✅ Yes, redeem
btn-cancel-voucher = Give back { $code }
btn-confirm-cancel = ✅ Yes, give it back
btn-optin = Get promotions again

balance-title = Your points
balance-total = Balance: { $points } points
balance-pay-value = Worth { $amount } when you pay at the till (say "pay with points")
balance-spendable = Ready to use: { $spendable } points · on hold: { $pending } points
balance-expiry = { $points } points expire after { $date }
balance-no-expiry = No points are due to expire.
balance-member-code = Member code:{" "}

rewards-title = Rewards (you have { $points } points) · page { $page }/{ $pages }
rewards-empty = There are no rewards to redeem right now. Please check again soon.
reward-line = • { $name }: { $cost } points
reward-line-short = • { $name }: { $cost } points ({ $missing } more needed)
reward-line-out-of-stock = • { $name }: { $cost } points (out of stock)
reward-card = { $cost } points
reward-card-short = { $cost } points · { $missing } more needed
reward-card-out-of-stock = { $cost } points · out of stock

redeem-confirm = Redeem { $name } for { $cost } points?
    Balance now: { $balance } points · after: { $after } points
redeem-done = Here is your voucher for { $name }:
voucher-valid-until = valid until { $date }

vouchers-title = Your vouchers (show the code or QR at the counter)
voucher-line = • { $name }, valid until { $date }:
vouchers-empty = You have no vouchers to use right now.
voucher-not-found = I could not find that voucher among yours.
cancel-confirm = Give back voucher { $code } and get { $points } points back?
cancel-done = Voucher given back: { $points } points are yours again. Balance: { $balance } points.

history-title = Your latest points
history-empty = No points yet. Show your member card when you pay to start collecting!
history-earn = { $date } · +{ $points } at { $merchant }
history-redeem = { $date } · −{ $points } redeemed
history-clawback = { $date } · −{ $points } refund at { $merchant }
history-expire = { $date } · −{ $points } expired
history-adjust = { $date } · ±{ $points } adjusted by the shop
history-release = { $date } · +{ $points } voucher returned

card-caption = Show this QR code to the cashier, or tell them your member code:

claim-prompt = Please type the claim code printed on your receipt (10 letters and digits).
claim-done = 🎉 { $points } points from { $merchant } are yours! Balance: { $balance } points.
claim-not-found = I could not find that receipt code. Please check it and try again.

language-choose = Choose your language:
language-name = English
language-set = I will speak English from now on.

optout-done = You will not receive promotions any more. Points and voucher messages still reach you.
optin-done = You will receive our promotions again. Type /stop at any time to stop them.

referral-recorded = Thanks for joining through a friend's invitation!
referral-invalid = That invitation link is not valid, but you are all set.
referral-not-new = Invitations are for new members; you are already one of us.

# Telegram's command menu (3-256 characters each).
cmd-start = Join or open the menu
cmd-balance = My points and expiry
cmd-rewards = Rewards to redeem
cmd-vouchers = My vouchers
cmd-history = My latest points
cmd-card = My member card (QR)
cmd-claim = Claim points from a receipt code
cmd-lang = ภาษาไทย / English
cmd-help = What I can do
cmd-stop = Stop promotions

# Using both Telegram and LINE with one member.
link-code = To use the same points in our other chat app (Telegram or LINE), send this there within { $minutes } minutes:
link-done = Linked! This chat now uses member { $code }, with { $points } points.
link-invalid = That link code is unknown, already used or expired. Make a new one with /link in the other app.
link-taken = That member is already linked to another account in this app.
link-has-history = This account already has its own points or history, so it cannot be linked. Make the code here with /link and send it in the other app instead.
link-not-here = Linking works between the Telegram and LINE apps.
cmd-link = Use the same points in Telegram and LINE
promotions-none = No promotions are running right now. Here are the rewards you can collect for:
btn-promotions = 🎉 Promotions
btn-invite = 🤝 Invite friends
promotions-title = Promotions
promotion-until = until { $date }
promotion-from = from { $date }
balance-tier = Tier: { $tier }
balance-next-tier = Spend { $amount } more within 12 months to reach { $tier }.
balance-top-tier = You are at our top tier. Thank you!
history-referral = { $date } · +{ $points } friend invitation bonus
referral-welcome-bonus = You will get { $points } bonus points with your first purchase.
invite-intro = Invite your friends! When a friend joins with your invitation and makes their first purchase, you get { $referrer } points and they get { $referee } points.
invite-link = Share this link:
invite-code = Or ask them to send this to our chat after they join:{" "}
cmd-invite = Invite friends and earn points
cmd-promotions = Promotions running now

# The member's phone number, given in chat so the counter can find them by it.
btn-phone = 📱 My phone number
btn-phone-share = 📱 Share my phone number
btn-phone-remove = Remove my number
btn-phone-yes = ✅ Yes, save it
btn-phone-no = No
cmd-phone = My phone number (the cashier can find you by it)
phone-intro = With your phone number, the cashier can find your points by your number, no member card needed. Giving it is optional, and the shop uses it only to find your account.
phone-current = Your number now: { $number }
phone-ask = Type your phone number, for example 081 234 5678.
phone-ask-share = Press "Share my phone number" below, or type your number, for example 081 234 5678.
phone-confirm = Save { $number } as your phone number?
phone-saved = Saved! The cashier can now find you by { $number }.
phone-same = { $number } is already your number.
phone-invalid = That does not look like a phone number. Please type it like 081 234 5678 (or with the country code, like +66 81 234 5678).
phone-taken = That number is already used by another member, so I could not save it. If it is yours, please ask at the counter.
phone-not-own = That is someone else's contact. Please share your own number with the button below, or type it.
phone-not-saved = OK, nothing was saved. You can type your number again at any time.
phone-removed = Your phone number has been removed. The cashier can still find you by your member card.

reward-gives-fixed = { $amount } off your bill
reward-gives-percent = { $percent }% off your bill
reward-gives-credit = { $amount } store credit
reward-gives-draw = An entry in the lucky draw
reward-gives-cap = up to { $amount }
reward-gives-only = on { $categories } only
reward-gives-min = for a bill of { $amount } or more
reward-at-partner = at { $partner } only

pay-code = Show this code at the till to pay with points. It works once, for { $minutes } minutes:
payment-confirmed = Done: { $points } points ({ $amount }) will pay your bill when the cashier finishes.
payment-declined = Cancelled: your { $points } points are back.
payment-closed = This payment is no longer waiting for your answer.
payments-off = Paying with points is not available here yet.
balance-credit = Store credit: { $amount } (spend it at the till like cash)
credit-added = ✅ { $amount } of store credit is on your account.
payment-confirmed-credit = Done: { $amount } of your store credit will pay your bill when the cashier finishes.
payment-declined-credit = Cancelled: your { $amount } of store credit is back.
btn-pay-yes = ✅ Yes, pay
btn-pay-no = ✖️ No

## Privacy (PDPA): consent to marketing, the notice, a copy of your data, erasure
consent-ask = May { $programme } send you news and offers here? Your points work either way, and you can change your mind at any time.
btn-consent-yes = ✅ Yes, send offers
btn-consent-no = No thanks
consent-yes = Thank you! You will get our news and offers. Type /stop at any time to stop them.
consent-no = No problem: you will get only messages about your points and vouchers. Type subscribe if you change your mind.
privacy-default = About your data: { $programme } keeps your member code, your chat app account, the language you use, your purchases at our shops, your points and vouchers, and your phone number if you give it, to run your points account. Offers are sent only if you agree. You can get a copy of your data (/mydata), ask us to erase it (/erase), or stop offers (/stop) at any time.
privacy-link = Our full privacy notice: { $url }
privacy-marketing-on = You get our news and offers.
privacy-marketing-off = You do not get our news and offers.
privacy-rights = Your data: a copy of it (/mydata), or erase it (/erase).
btn-privacy = 🔒 Privacy
btn-optout = Stop offers
btn-mydata = 📄 My data
btn-erase = 🗑 Erase my data
mydata-ready = Here is everything we hold about you, as a JSON file.
erase-ask-title = Erase your data?
erase-ask = This deletes your membership here: your name, phone number and chat account are removed, and you lose your { $points } points, { $vouchers } unused vouchers and { $credit } of store credit. It cannot be undone.
btn-erase-yes = Yes, erase everything
btn-erase-no = No, keep my account
erase-kept = Nothing was erased. Your account is as it was.
erase-done = Your data has been erased. If you write again, you start as a new member. Thank you for having been with us.
erase-nothing = There is nothing to erase: we hold no account for you.

birthday-ask = 🎂 Tell us your birthday and get a gift in your birthday month! Send the day and month, such as: birthday 29/2 (we keep only the day and month).
birthday-known = 🎂 Your birthday is { $date }. To change it (once a year), send: birthday DD/MM
birthday-saved = 🎂 Thank you! We'll celebrate with you on { $date }.
birthday-too-soon = Your birthday was set less than a year ago; you can change it again from { $date }.
birthday-invalid = That is not a day and month. Send it like this: birthday 29/2

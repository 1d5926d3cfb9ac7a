# Pushes: notices taem sends without being asked (points earned, vouchers,
# expiry reminders, tiers, referrals) and campaign broadcasts.

notice-earned = 🎉 You earned { $points } points at { $merchant }. Balance: { $balance } points.
notice-line-base = • Base points: +{ $points }
notice-line-tier = • { $name } tier bonus: +{ $points }
notice-line-campaign = • { $name }: +{ $points }
notice-line-referral = • Friend invitation bonus: +{ $points }
notice-voucher-issued = 🎟 Your voucher for { $reward } is ready, valid until { $date }. Show this code at the counter:{" "}
notice-voucher-used = ✅ Your voucher { $code } for { $reward } was used at { $merchant }. Enjoy!
notice-expiring = ⏳ { $points } points expire after { $date }. Swap them for a reward before then!
notice-tier-up = 🌟 Congratulations! You are now { $tier } and earn more points on every purchase.
notice-tier-down = Your tier is now { $tier }. Keep collecting to move up again.
notice-referral = 🤝 Your friend made their first purchase: { $points } points are yours! Balance: { $balance } points.
notice-negative = A refund took back points you had already used, so your balance is { $balance } points. Your next points make it up first.
broadcast-footer = Type "stop" to stop receiving promotions.

notice-payment-request = 💳 Use { $points } points ({ $amount }) at { $merchant }? Answer before { $time }; until then the points are held for this bill.
notice-payment-captured = 💳 You paid { $amount } with { $points } points at { $merchant }. Balance: { $balance } points.
notice-credit-request = 💳 Use { $amount } of your store credit at { $merchant }? Answer before { $time }; until then it is held for this bill.
notice-credit-captured = 💳 You paid { $amount } with store credit at { $merchant }. Store credit left: { $credit }.

# Journeys: messages taem sends by itself (marketing: consent and quiet hours apply).
notice-journey-welcome = 👋 Welcome to our members' club! Collect points with every purchase and swap them for rewards.
notice-journey-birthday = 🎂 Happy birthday! A little gift from us to celebrate your month.
notice-journey-winback = 💛 We miss you! Come back and see us: here is something to welcome you back.
notice-journey-near-reward = 🎯 You are only { $needed } points away from { $reward }. One more visit and it's yours!
notice-journey-points = 🎁 { $points } bonus points are in your account.
notice-journey-voucher = 🎟 Your voucher for { $reward }: show this code at the counter:{" "}

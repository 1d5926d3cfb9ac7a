# Messages for the loyalty core's refusals, shown to customers by the chat
# front-ends. Variables are pre-formatted by taem (numbers grouped, dates local).

points = { $points } points
refusal-insufficient-points = You have { $available } points to spend; this reward needs { $needed }.
refusal-negative-balance = Your balance is { $balance } points after a refund. You can redeem again once it is above zero.
refusal-out-of-stock = Sorry, this reward is out of stock.
refusal-member-limit = You have already redeemed this reward the most times allowed ({ $limit }).
refusal-reward-unavailable = This reward is not available at the moment.
refusal-voucher-used = This voucher was already used on { $date }.
refusal-voucher-expired = This voucher expired on { $date }.
refusal-voucher-cancelled = This voucher was cancelled.
refusal-claim-expired = This receipt code expired on { $date }.
refusal-claim-used = This receipt code has already been claimed.
refusal-too-many-tries = Too many wrong codes in a row. For your account's safety, please try again in { $minutes } minutes.

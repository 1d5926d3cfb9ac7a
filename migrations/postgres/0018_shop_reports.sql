-- A shop's reports (members, segments, campaigns' lift) read its purchases by
-- member: this index holds what they read, in that order, so they need not
-- visit the table.
CREATE INDEX purchases_shop_member
    ON purchases (merchant_id, member_id, occurred_at) INCLUDE (currency, amount_minor, refunded_minor);

-- What a reward gives: a free product (by SKU or described), a fixed discount
-- (its face value off, from a minimum basket), a percent discount (basis
-- points, a cap, categories, a minimum basket), cashback (its face value as
-- store credit), or an entry in a draw. Every existing reward is a product.
ALTER TABLE rewards ADD COLUMN kind TEXT NOT NULL DEFAULT 'product'
    CHECK (kind IN ('product', 'fixed_discount', 'percent_discount', 'cashback', 'draw_entry'));
ALTER TABLE rewards ADD COLUMN sku TEXT;
ALTER TABLE rewards ADD COLUMN min_basket_minor INTEGER CHECK (min_basket_minor > 0);
ALTER TABLE rewards ADD COLUMN percent_bp INTEGER CHECK (percent_bp BETWEEN 1 AND 10000);
ALTER TABLE rewards ADD COLUMN cap_minor INTEGER CHECK (cap_minor > 0);
-- Category names, separated by commas ('' for none).
ALTER TABLE rewards ADD COLUMN categories TEXT NOT NULL DEFAULT '';

-- What a voucher took off the bill it was used on (JSON), for the till's
-- records and the reports.
ALTER TABLE vouchers ADD COLUMN takeoff TEXT;

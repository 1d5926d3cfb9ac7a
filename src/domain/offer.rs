//! What a reward gives the customer (its kind), and what a voucher of it takes
//! off a basket at the till, in exact money.
//!
//! - A free product: the item is handed over; when the basket holds it, one
//!   unit's price is what comes off.
//! - A fixed discount: the reward's face value off, never more than the basket,
//!   from an optional minimum basket.
//! - A percent discount: a share of the basket (or of its items in the given
//!   categories), rounded down to the minor unit, at most a cap.
//! - Cashback: store credit on the member's account (nothing off this basket).
//! - An entry in a draw: nothing off.

use serde::Serialize;

use super::campaign::Item;
use super::money::{Currency, Money};

/// A share in basis points: 10,000 is 100 %.
pub const WHOLE: u32 = 10_000;

/// A share written as people do: `15`, `12.5`, `15%` (more than 0, at most
/// 100, at most two decimals), in basis points.
pub fn parse_percent(input: &str) -> Option<u32> {
    let s = input.trim().trim_end_matches('%').trim();
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty()
        || frac.len() > 2
        || !whole
            .bytes()
            .chain(frac.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: u32 = whole.parse().ok()?;
    let frac: u32 = format!("{frac:0<2}").parse().ok()?;
    let bp = whole.checked_mul(100)?.checked_add(frac)?;
    (1..=WHOLE).contains(&bp).then_some(bp)
}

/// Basis points written as a percentage: `15`, `12.5`, `0.25`.
pub fn percent_text(basis_points: u32) -> String {
    let (whole, frac) = (basis_points / 100, basis_points % 100);
    match frac {
        0 => whole.to_string(),
        f if f % 10 == 0 => format!("{whole}.{}", f / 10),
        f => format!("{whole}.{f:02}"),
    }
}

/// What a reward gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RewardKind {
    /// A free product, named by the till's SKU when there is one.
    Product { sku: Option<String> },
    /// `off` taken off a basket of at least `min_basket`.
    FixedDiscount {
        off: Money,
        min_basket: Option<Money>,
    },
    /// `basis_points` of the basket (or of its items in `categories`), at most
    /// `cap`, from a basket of at least `min_basket`.
    PercentDiscount {
        basis_points: u32,
        cap: Option<Money>,
        categories: Vec<String>,
        min_basket: Option<Money>,
    },
    /// `credit` of store credit on the member's account.
    Cashback { credit: Money },
    /// An entry in a lucky draw.
    DrawEntry,
}

impl RewardKind {
    /// Its name in storage and in the API: `product`, `fixed_discount`,
    /// `percent_discount`, `cashback`, `draw_entry`.
    pub fn as_str(&self) -> &'static str {
        match self {
            RewardKind::Product { .. } => "product",
            RewardKind::FixedDiscount { .. } => "fixed_discount",
            RewardKind::PercentDiscount { .. } => "percent_discount",
            RewardKind::Cashback { .. } => "cashback",
            RewardKind::DrawEntry => "draw_entry",
        }
    }
}

/// The bill a voucher is used on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Basket {
    pub amount: Money,
    /// Lines as the till gives them; may be empty.
    pub items: Vec<Item>,
}

/// What the till takes off for a voucher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Takeoff {
    /// This much off the bill.
    Amount {
        #[serde(serialize_with = "super::model::serialize_money")]
        #[schema(value_type = super::model::MoneyJson)]
        amount: Money,
    },
    /// The product, handed over free; `amount` is one unit's price when the
    /// basket holds it (to take off), else zero.
    Item {
        sku: Option<String>,
        #[serde(serialize_with = "super::model::serialize_money")]
        #[schema(value_type = super::model::MoneyJson)]
        amount: Money,
    },
    /// Store credit given to the member (nothing off this bill).
    Credit {
        #[serde(serialize_with = "super::model::serialize_money")]
        #[schema(value_type = super::model::MoneyJson)]
        credit: Money,
    },
    /// Nothing off (an entry in a draw).
    Nothing,
}

/// Why a voucher does not apply to a basket.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotApplicable {
    #[error("the basket is in {basket}, the voucher in {voucher}")]
    OtherCurrency { basket: Currency, voucher: Currency },
    #[error("the basket is below the minimum of {}", .min.to_decimal_string())]
    BelowMinimum { min: Money },
    #[error("the basket has no item in the voucher's categories")]
    NoItemInCategories,
    #[error("the basket's items add up to more than its amount")]
    ItemsOverAmount,
}

impl RewardKind {
    /// What a voucher of this kind gives when the till sends no basket: a
    /// fixed discount its value, a product the item; `None` for a percent
    /// discount, which needs the basket.
    pub fn without_basket(&self) -> Option<Takeoff> {
        Some(match self {
            RewardKind::Product { sku } => Takeoff::Item {
                sku: sku.clone(),
                amount: Money::from_minor(0, Currency::THB),
            },
            RewardKind::FixedDiscount { off, .. } => Takeoff::Amount { amount: *off },
            RewardKind::PercentDiscount { .. } => return None,
            RewardKind::Cashback { credit } => Takeoff::Credit { credit: *credit },
            RewardKind::DrawEntry => Takeoff::Nothing,
        })
    }

    /// What a voucher of this kind takes off `basket` (without a basket: what
    /// it gives, computed on nothing: a discount is then its face value, a
    /// percent discount needs the basket to say more than "a percentage").
    pub fn takeoff(&self, basket: &Basket) -> Result<Takeoff, NotApplicable> {
        let items_total: i64 = basket.items.iter().map(|i| i.amount_minor.max(0)).sum();
        if items_total > basket.amount.minor() {
            return Err(NotApplicable::ItemsOverAmount);
        }
        let currency = basket.amount.currency();
        let same = |m: Money| -> Result<Money, NotApplicable> {
            if m.currency() == currency {
                Ok(m)
            } else {
                Err(NotApplicable::OtherCurrency {
                    basket: currency,
                    voucher: m.currency(),
                })
            }
        };
        let reach = |min: &Option<Money>| -> Result<(), NotApplicable> {
            match min {
                Some(min) if same(*min)?.minor() > basket.amount.minor() => {
                    Err(NotApplicable::BelowMinimum { min: *min })
                }
                _ => Ok(()),
            }
        };
        let money = |minor: i64| Money::from_minor(minor, currency);
        Ok(match self {
            RewardKind::Product { sku } => {
                let unit = sku
                    .as_deref()
                    .and_then(|sku| basket.items.iter().find(|i| i.sku == sku))
                    .filter(|i| i.quantity > 0)
                    .map_or(0, |i| i.amount_minor.max(0) / i.quantity);
                Takeoff::Item {
                    sku: sku.clone(),
                    amount: money(unit),
                }
            }
            RewardKind::FixedDiscount { off, min_basket } => {
                reach(min_basket)?;
                let off = same(*off)?.minor().min(basket.amount.minor()).max(0);
                Takeoff::Amount { amount: money(off) }
            }
            RewardKind::PercentDiscount {
                basis_points,
                cap,
                categories,
                min_basket,
            } => {
                reach(min_basket)?;
                let base = if categories.is_empty() {
                    basket.amount.minor()
                } else {
                    let lines: Vec<&Item> = basket
                        .items
                        .iter()
                        .filter(|i| {
                            i.category.as_deref().is_some_and(|c| {
                                categories.iter().any(|k| k.eq_ignore_ascii_case(c))
                            })
                        })
                        .collect();
                    if lines.is_empty() {
                        return Err(NotApplicable::NoItemInCategories);
                    }
                    lines.iter().map(|i| i.amount_minor.max(0)).sum()
                };
                let share =
                    i128::from(base) * i128::from((*basis_points).min(WHOLE)) / i128::from(WHOLE);
                let mut off = i64::try_from(share).unwrap_or(i64::MAX);
                if let Some(cap) = cap {
                    off = off.min(same(*cap)?.minor());
                }
                Takeoff::Amount {
                    amount: money(off.max(0)),
                }
            }
            RewardKind::Cashback { credit } => Takeoff::Credit { credit: *credit },
            RewardKind::DrawEntry => Takeoff::Nothing,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn thb(minor: i64) -> Money {
        Money::from_minor(minor, Currency::THB)
    }

    fn item(sku: &str, category: Option<&str>, quantity: i64, amount_minor: i64) -> Item {
        Item {
            sku: sku.into(),
            category: category.map(str::to_string),
            quantity,
            amount_minor,
        }
    }

    fn basket(amount: i64, items: Vec<Item>) -> Basket {
        Basket {
            amount: thb(amount),
            items,
        }
    }

    #[test]
    fn percentages_are_read_and_written_as_people_do() {
        assert_eq!(parse_percent("15"), Some(1_500));
        assert_eq!(parse_percent("12.5%"), Some(1_250));
        assert_eq!(parse_percent("0.25"), Some(25));
        assert_eq!(parse_percent("100"), Some(10_000));
        for bad in ["0", "100.01", "-5", "1.234", "abc", "", "."] {
            assert_eq!(parse_percent(bad), None, "{bad}");
        }
        assert_eq!(percent_text(1_250), "12.5");
        assert_eq!(percent_text(25), "0.25");
        assert_eq!(percent_text(1_500), "15");
    }

    #[test]
    fn a_fixed_discount_takes_its_value_off_but_never_more_than_the_bill() {
        let k = RewardKind::FixedDiscount {
            off: thb(5_000),
            min_basket: Some(thb(20_000)),
        };
        assert_eq!(
            k.takeoff(&basket(25_000, vec![])),
            Ok(Takeoff::Amount { amount: thb(5_000) })
        );
        assert_eq!(
            k.takeoff(&basket(19_999, vec![])),
            Err(NotApplicable::BelowMinimum { min: thb(20_000) })
        );
        let no_min = RewardKind::FixedDiscount {
            off: thb(5_000),
            min_basket: None,
        };
        assert_eq!(
            no_min.takeoff(&basket(3_000, vec![])),
            Ok(Takeoff::Amount { amount: thb(3_000) })
        );
    }

    #[test]
    fn a_percent_discount_rounds_down_to_the_satang_and_stops_at_its_cap() {
        let k = RewardKind::PercentDiscount {
            basis_points: 1_500,
            cap: Some(thb(10_000)),
            categories: vec![],
            min_basket: None,
        };
        // 15 % of ฿333.33 is ฿49.9995: ฿49.99 off.
        assert_eq!(
            k.takeoff(&basket(33_333, vec![])),
            Ok(Takeoff::Amount { amount: thb(4_999) })
        );
        assert_eq!(
            k.takeoff(&basket(1_000_000, vec![])),
            Ok(Takeoff::Amount {
                amount: thb(10_000)
            })
        );
    }

    #[test]
    fn a_percent_discount_on_categories_counts_only_their_lines() {
        let k = RewardKind::PercentDiscount {
            basis_points: 2_000,
            cap: None,
            categories: vec!["bakery".into()],
            min_basket: None,
        };
        let b = basket(
            30_000,
            vec![
                item("CROISSANT", Some("Bakery"), 2, 12_000),
                item("LATTE", Some("coffee"), 1, 9_000),
            ],
        );
        assert_eq!(k.takeoff(&b), Ok(Takeoff::Amount { amount: thb(2_400) }));
        let coffee_only = basket(9_000, vec![item("LATTE", Some("coffee"), 1, 9_000)]);
        assert_eq!(
            k.takeoff(&coffee_only),
            Err(NotApplicable::NoItemInCategories)
        );
    }

    #[test]
    fn a_free_product_takes_one_units_price_off_when_the_basket_holds_it() {
        let k = RewardKind::Product {
            sku: Some("LATTE".into()),
        };
        let b = basket(27_000, vec![item("LATTE", None, 3, 27_000)]);
        assert_eq!(
            k.takeoff(&b),
            Ok(Takeoff::Item {
                sku: Some("LATTE".into()),
                amount: thb(9_000)
            })
        );
        assert_eq!(
            k.takeoff(&basket(5_000, vec![])),
            Ok(Takeoff::Item {
                sku: Some("LATTE".into()),
                amount: thb(0)
            })
        );
    }

    #[test]
    fn another_currency_and_items_over_the_amount_are_refused() {
        let k = RewardKind::FixedDiscount {
            off: Money::from_minor(500, "USD".parse().unwrap()),
            min_basket: None,
        };
        assert!(matches!(
            k.takeoff(&basket(10_000, vec![])),
            Err(NotApplicable::OtherCurrency { .. })
        ));
        let b = basket(1_000, vec![item("X", None, 1, 2_000)]);
        assert_eq!(
            RewardKind::DrawEntry.takeoff(&b),
            Err(NotApplicable::ItemsOverAmount)
        );
    }

    proptest! {
        #[test]
        fn nothing_comes_off_that_is_not_in_the_basket(
            amount in 0i64..10_000_000,
            off in 0i64..10_000_000,
            bp in 0u32..20_000,
            cap in proptest::option::of(0i64..10_000_000),
        ) {
            let b = basket(amount, vec![]);
            for k in [
                RewardKind::FixedDiscount { off: thb(off), min_basket: None },
                RewardKind::PercentDiscount { basis_points: bp, cap: cap.map(thb), categories: vec![], min_basket: None },
            ] {
                match k.takeoff(&b) {
                    Ok(Takeoff::Amount { amount: a }) => {
                        prop_assert!(a.minor() >= 0 && a.minor() <= amount);
                        if let Some(c) = cap && k.as_str() == "percent_discount" {
                            prop_assert!(a.minor() <= c);
                        }
                    }
                    other => prop_assert!(false, "{other:?}"),
                }
            }
        }
    }
}

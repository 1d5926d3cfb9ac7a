//! `taem program`, `taem merchant`, `taem reward` and `taem member`.

use super::*;

pub(super) async fn program(loyalty: &Loyalty, cmd: ProgramCmd) -> anyhow::Result<()> {
    let (p, out) = match cmd {
        ProgramCmd::Show(out) => (loyalty.program().await.map_err(friendly)?, out),
        ProgramCmd::Set(set) => {
            let out = set.out;
            let change = crate::service::ProgramChange::from(*set);
            (loyalty.change_program(change).await.map_err(friendly)?, out)
        }
    };
    print(out, &p, || {
        format!(
            "program {:?}: points expire after {} months, pending for {} days\n\
             referrals: {} points to the inviter, {} to the friend, on a first purchase of at least {} {}\n\
             tiers (12-month spend in {}): {}\n",
            p.name,
            p.expiry_months,
            p.pending_days,
            p.referral.referrer_points,
            p.referral.referee_points,
            Money::from_minor(p.referral.min_spend_minor, p.currency).to_decimal_string(),
            p.currency,
            p.currency,
            p.tiers
                .all()
                .iter()
                .map(|t| format!(
                    "{} from {}",
                    t.key,
                    Money::from_minor(t.threshold_minor, p.currency).to_decimal_string()
                ))
                .collect::<Vec<_>>()
                .join(", ")
        )
    });
    Ok(())
}

pub(super) async fn merchant(loyalty: &Loyalty, cmd: MerchantCmd) -> anyhow::Result<()> {
    match cmd {
        MerchantCmd::Add {
            name,
            currency,
            earn,
            out,
        } => {
            let m = loyalty
                .add_merchant(&name, &currency, &earn, now())
                .await
                .map_err(friendly)?;
            #[derive(Serialize)]
            struct Created<'a> {
                id: &'a str,
                name: &'a str,
                currency: &'a str,
                earn: String,
                webhook_secret: &'a str,
            }
            print(
                out,
                &Created {
                    id: &m.id,
                    name: &m.name,
                    currency: m.currency.code(),
                    earn: m.earn.display(m.currency),
                    webhook_secret: m.webhook_secret.expose(),
                },
                || {
                    format!(
                        "merchant {} created: {} ({}, earn {})\n\
                         webhook secret: {}\n\
                         Keep the secret safe: it is shown only now.\n",
                        m.id,
                        m.name,
                        m.currency,
                        m.earn.display(m.currency),
                        m.webhook_secret.expose()
                    )
                },
            );
        }
        MerchantCmd::RotateSecret {
            id,
            grace_hours,
            out,
        } => {
            let (m, grace_until) = loyalty
                .rotate_merchant_secret(&id, grace_hours, now())
                .await
                .map_err(friendly)?;
            #[derive(Serialize)]
            struct Rotated<'a> {
                id: &'a str,
                webhook_secret: &'a str,
                previous_secret_valid_until: chrono::DateTime<chrono::Utc>,
            }
            print(
                out,
                &Rotated {
                    id: &m.id,
                    webhook_secret: m.webhook_secret.expose(),
                    previous_secret_valid_until: grace_until,
                },
                || {
                    format!(
                        "merchant {}: new webhook secret: {}\n\
                         Keep it safe: it is shown only now. The old secret is accepted until {}.\n",
                        m.id,
                        m.webhook_secret.expose(),
                        grace_until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    )
                },
            );
        }
        MerchantCmd::List(out) => {
            let list = loyalty.merchants().await.map_err(friendly)?;
            let rows: Vec<render::MerchantRow> =
                list.iter().map(render::MerchantRow::from).collect();
            print(out, &rows, || render::merchants(&rows));
        }
    }
    Ok(())
}

pub(super) async fn reward(
    loyalty: &Loyalty,
    cmd: RewardCmd,
    tz: chrono_tz::Tz,
) -> anyhow::Result<()> {
    match cmd {
        RewardCmd::Add(a) => {
            let a = *a;
            let valid_from = a
                .from
                .as_deref()
                .map(|s| parse_instant(s, tz))
                .transpose()?;
            let valid_until = a
                .until
                .as_deref()
                .map(|s| parse_instant(s, tz))
                .transpose()?;
            let input = crate::service::RewardInput {
                name_th: a.name_th,
                name_en: a.name_en,
                description_th: a.description_th,
                description_en: a.description_en,
                cost: a.cost,
                stock: a.stock,
                per_member_limit: a.limit,
                valid_from,
                valid_until,
                face_value: a.face_value,
                currency: a.currency,
                voucher_days: a.voucher_days,
                kind: a.kind,
                sku: a.sku,
                min_basket: a.min_basket,
                percent: a.percent,
                cap: a.cap,
                categories: a.categories,
                partner: a.partner,
            };
            let r = loyalty.add_reward(input, now()).await.map_err(friendly)?;
            print(a.out, &r, || {
                format!(
                    "reward {} added\n{}",
                    r.id,
                    render::rewards(std::slice::from_ref(&r))
                )
            });
        }
        RewardCmd::List { all, out } => {
            let list = loyalty.rewards(all).await.map_err(friendly)?;
            print(out, &list, || render::rewards(&list));
        }
        RewardCmd::Disable { id, out } => {
            let r = loyalty
                .set_reward_active(id, false)
                .await
                .map_err(friendly)?;
            print(out, &r, || format!("reward {} disabled\n", r.id));
        }
        RewardCmd::Enable { id, out } => {
            let r = loyalty
                .set_reward_active(id, true)
                .await
                .map_err(friendly)?;
            print(out, &r, || format!("reward {} enabled\n", r.id));
        }
        RewardCmd::Redeem {
            member_code,
            reward_id,
            qr,
            out,
        } => {
            let m = find_member(loyalty, &member_code).await?;
            let v = loyalty
                .redeem(m.id, reward_id, None, now())
                .await
                .map_err(friendly)?;
            if let Some(path) = &qr {
                write_qr(&v.code, path)?;
            }
            print(out, &v, || render::voucher(&v, tz));
        }
    }
    Ok(())
}

pub(super) async fn member(
    loyalty: &Loyalty,
    cmd: MemberCmd,
    tz: chrono_tz::Tz,
) -> anyhow::Result<()> {
    match cmd {
        MemberCmd::Add { name, lang, out } => {
            let locale = match lang.as_deref() {
                None => None,
                Some(l) => Some(
                    crate::i18n::Locale::parse(l)
                        .with_context(|| format!("--lang {l:?}: use th or en"))?
                        .as_str()
                        .to_string(),
                ),
            };
            let m = loyalty
                .add_member(
                    &NewMember {
                        name: name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()),
                        locale,
                        ..NewMember::default()
                    },
                    now(),
                )
                .await
                .map_err(friendly)?;
            print(out, &m, || format!("member {} created\n", m.code));
        }
        MemberCmd::Show {
            member_code,
            telegram,
            line,
            out,
        } => {
            let m = match (member_code, telegram, line) {
                (Some(code), _, _) => find_member(loyalty, &code).await?,
                (_, Some(t), _) => loyalty
                    .member(&MemberRef::Telegram(t))
                    .await
                    .map_err(|_| anyhow::anyhow!("no member uses Telegram id {t}"))?,
                (_, _, Some(l)) => loyalty
                    .member(&MemberRef::Line(l.clone()))
                    .await
                    .map_err(|_| anyhow::anyhow!("no member uses LINE id {l}"))?,
                _ => bail!("give a member code, --telegram ID or --line ID"),
            };
            let summary = loyalty.summary(m, now()).await.map_err(friendly)?;
            print(out, &summary, || render::summary(&summary, tz));
        }
        MemberCmd::Export { member_code, out } => {
            let file = loyalty
                .staff_export(&crate::service::staff::Actor::Cli, &member_code, now())
                .await
                .map_err(friendly)?;
            match out {
                Some(path) => {
                    std::fs::write(&path, &file)
                        .with_context(|| format!("writing {}", path.display()))?;
                    eprintln!("written to {}", path.display());
                }
                None => println!("{}", String::from_utf8_lossy(&file)),
            }
        }
        MemberCmd::Erase {
            member_code,
            reason,
            out,
        } => {
            let e = loyalty
                .staff_erase(
                    &crate::service::staff::Actor::Cli,
                    &member_code,
                    &reason,
                    now(),
                )
                .await
                .map_err(friendly)?;
            print(out, &e, || {
                format!(
                    "member erased; the anonymous stub is {}
                     forfeited: {} points, {} vouchers cancelled, {} store credit (minor units);                      {} payments released, {} pushes dropped
",
                    e.stub_code,
                    e.points_forfeited,
                    e.vouchers_cancelled,
                    e.credit_forfeited_minor,
                    e.payments_released,
                    e.pushes_dropped
                )
            });
        }
    }
    Ok(())
}

pub(super) async fn privacy_sweep(loyalty: &Loyalty, out: JsonFlag) -> anyhow::Result<()> {
    let run = loyalty.privacy_sweep(now()).await.map_err(friendly)?;
    let json = match run {
        Some((cutoff, erased)) => serde_json::json!({"cutoff": cutoff, "erased": erased}),
        None => serde_json::json!({"off": true}),
    };
    print(out, &json, || match run {
        Some((cutoff, erased)) => {
            format!(
                "{erased} members with no activity since {cutoff} anonymised
"
            )
        }
        None => "retention is off (taem program set --retention-months N)
"
        .into(),
    });
    Ok(())
}

impl From<ProgramSet> for crate::service::ProgramChange {
    fn from(s: ProgramSet) -> Self {
        crate::service::ProgramChange {
            name: s.name,
            expiry_months: s.expiry_months,
            pending_days: s.pending_days,
            currency: s.currency,
            referrer_points: s.referrer_points,
            referee_points: s.referee_points,
            referral_min_spend: s.referral_min_spend,
            session_idle_hours: s.session_idle_hours,
            pay_rate: s.pay_rate,
            pay_min_points: s.pay_min_points,
            pay_hold_minutes: s.pay_hold_minutes,
            pay_earns: s.pay_earns,
            point_value: s.point_value,
            breakage: s.breakage,
            gross_margin: s.gross_margin,
            abc: s.abc,
            privacy_url: s.privacy_url,
            privacy_th: s.privacy_th,
            privacy_en: s.privacy_en,
            retention_months: s.retention_months,
        }
    }
}

pub(super) async fn check(loyalty: &Loyalty, out: JsonFlag) -> anyhow::Result<()> {
    let c = loyalty.check_ledger().await.map_err(friendly)?;
    print(out, &c, || {
        let mut text = format!(
            "checked {} members, {} purchases, {} vouchers\n",
            c.members, c.purchases, c.vouchers
        );
        for m in &c.broken_members {
            text.push_str(&format!(
                "member {}: balance {}, entries sum to {}, lots hold {}; store credit {}, \
                 its entries sum to {}\n",
                m.member_id,
                m.balance,
                m.entries_sum,
                m.lots_remaining,
                m.credit,
                m.credit_entries_sum
            ));
        }
        for p in &c.broken_purchases {
            text.push_str(&format!(
                "purchase {} ({} at {}): gave {} points, its earn entries hold {}\n",
                p.purchase_id, p.receipt_id, p.merchant_id, p.points, p.earned
            ));
        }
        for v in &c.broken_vouchers {
            text.push_str(&format!(
                "voucher {} ({}, {} points): its redemption took {}, releases gave back {}\n",
                v.code, v.status, v.points, -v.redeemed, v.released
            ));
        }
        for s in &c.broken_spends {
            text.push_str(&format!(
                "member {}: keeps a rolling spend of {} {} (minor units), its purchases add up \
                 to {}\n",
                s.member_id, s.kept, s.currency, s.counted
            ));
        }
        text
    });
    if !c.holds() {
        bail!(
            "the ledger does not add up: {} members, {} purchases, {} vouchers, {} kept spends",
            c.broken_members.len(),
            c.broken_purchases.len(),
            c.broken_vouchers.len(),
            c.broken_spends.len()
        );
    }
    Ok(())
}

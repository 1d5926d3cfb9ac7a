//! `taem program`, `taem merchant`, `taem reward` and `taem member`.

use super::*;

pub(super) async fn program(store: &dyn Store, cmd: ProgramCmd) -> anyhow::Result<()> {
    let (p, out) = match cmd {
        ProgramCmd::Show(out) => (store.program().await?, out),
        ProgramCmd::Set {
            name,
            expiry_months,
            pending_days,
            currency,
            referrer_points,
            referee_points,
            referral_min_spend,
            out,
        } => {
            let mut p = store.program().await?;
            if let Some(n) = name {
                p.name = n;
            }
            if let Some(m) = expiry_months {
                p.expiry_months = m;
            }
            if let Some(d) = pending_days {
                p.pending_days = d;
            }
            if let Some(c) = currency {
                let c: Currency = c.parse()?;
                if c != p.currency {
                    // Thresholds keep their value in major units.
                    let tiers = p.tiers.all().iter().map(|t| crate::domain::tier::Tier {
                        threshold_minor: t.threshold_minor / p.currency.minor_per_major()
                            * c.minor_per_major(),
                        ..t.clone()
                    });
                    p.tiers = crate::domain::tier::Tiers::new(tiers.collect())?;
                    p.currency = c;
                }
            }
            for (flag, v) in [
                ("--referrer-points", referrer_points),
                ("--referee-points", referee_points),
            ] {
                if v.is_some_and(|v| !(0..=1_000_000).contains(&v)) {
                    bail!("{flag} must be between 0 and 1000000");
                }
            }
            if let Some(v) = referrer_points {
                p.referral.referrer_points = v;
            }
            if let Some(v) = referee_points {
                p.referral.referee_points = v;
            }
            if let Some(m) = referral_min_spend {
                p.referral.min_spend_minor = Money::parse(&m, p.currency)
                    .with_context(|| format!("--referral-min-spend {m:?}"))?
                    .minor();
            }
            store.set_program(&p).await?;
            (p, out)
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

pub(super) async fn merchant(store: &dyn Store, cmd: MerchantCmd) -> anyhow::Result<()> {
    match cmd {
        MerchantCmd::Add {
            name,
            currency,
            earn,
            out,
        } => {
            let name = name.trim().to_string();
            if name.is_empty() {
                bail!("--name must not be empty");
            }
            let currency: Currency = currency.parse()?;
            let earn = EarnRate::parse(&earn, currency)?;
            let m = Merchant {
                id: codes::merchant_id(),
                name,
                currency,
                earn,
                webhook_secret: Secret::new(codes::webhook_secret()),
                previous_secret: None,
                created_at: now(),
            };
            store.add_merchant(&m).await?;
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
            let grace_until = now() + chrono::Duration::hours(i64::from(grace_hours));
            let m = store
                .rotate_merchant_secret(&id, &Secret::new(codes::webhook_secret()), grace_until)
                .await
                .map_err(|e| friendly(e.into()))?;
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
            let list = store.merchants().await?;
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
    let store = loyalty.store();
    match cmd {
        RewardCmd::Add(a) => {
            let cost =
                Points::positive(a.cost).context("--cost must be a positive number of points")?;
            if a.name_th.trim().is_empty() || a.name_en.trim().is_empty() {
                bail!("--name-th and --name-en must not be empty");
            }
            if a.stock.is_some_and(|s| s < 0) {
                bail!("--stock must not be negative");
            }
            if a.limit.is_some_and(|l| l < 1) {
                bail!("--limit must be at least 1");
            }
            if a.voucher_days == 0 {
                bail!("--voucher-days must be at least 1");
            }
            let currency: Currency = a.currency.parse()?;
            let face_value = Money::parse(&a.face_value, currency)?;
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
            if let (Some(f), Some(u)) = (valid_from, valid_until)
                && u <= f
            {
                bail!("--until must be after --from");
            }
            let r = store
                .add_reward(
                    &NewReward {
                        name_th: a.name_th.trim().into(),
                        name_en: a.name_en.trim().into(),
                        description_th: a.description_th,
                        description_en: a.description_en,
                        cost,
                        stock: a.stock,
                        per_member_limit: a.limit,
                        valid_from,
                        valid_until,
                        face_value,
                        voucher_days: a.voucher_days,
                    },
                    now(),
                )
                .await?;
            print(a.out, &r, || {
                format!(
                    "reward {} added\n{}",
                    r.id,
                    render::rewards(std::slice::from_ref(&r))
                )
            });
        }
        RewardCmd::List { all, out } => {
            let list = store.rewards(all).await?;
            print(out, &list, || render::rewards(&list));
        }
        RewardCmd::Disable { id, out } => {
            let r = store
                .set_reward_active(id, false)
                .await
                .map_err(|e| friendly(e.into()))?;
            print(out, &r, || format!("reward {} disabled\n", r.id));
        }
        RewardCmd::Enable { id, out } => {
            let r = store
                .set_reward_active(id, true)
                .await
                .map_err(|e| friendly(e.into()))?;
            print(out, &r, || format!("reward {} enabled\n", r.id));
        }
        RewardCmd::Redeem {
            member_code,
            reward_id,
            qr,
            out,
        } => {
            let m = find_member(store.as_ref(), &member_code).await?;
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
    let store = loyalty.store();
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
            let m = store
                .add_member(
                    &NewMember {
                        name: name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()),
                        locale,
                        ..NewMember::default()
                    },
                    now(),
                )
                .await?;
            print(out, &m, || format!("member {} created\n", m.code));
        }
        MemberCmd::Show {
            member_code,
            telegram,
            line,
            out,
        } => {
            let m = match (member_code, telegram, line) {
                (Some(code), _, _) => find_member(store.as_ref(), &code).await?,
                (_, Some(t), _) => store
                    .member(&MemberRef::Telegram(t))
                    .await
                    .map_err(|_| anyhow::anyhow!("no member uses Telegram id {t}"))?,
                (_, _, Some(l)) => store
                    .member(&MemberRef::Line(l.clone()))
                    .await
                    .map_err(|_| anyhow::anyhow!("no member uses LINE id {l}"))?,
                _ => bail!("give a member code, --telegram ID or --line ID"),
            };
            let summary = loyalty.summary(m, now()).await.map_err(friendly)?;
            print(out, &summary, || render::summary(&summary, tz));
        }
    }
    Ok(())
}

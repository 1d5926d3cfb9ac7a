//! Every store operation, listed once (see [`with_operations`]): the
//! [`super::Store`] trait and both backends are made from this list.

/// Every store operation, listed once: its documentation, its signature and
/// the `ops` function that does it. `with_operations!(m! { … })` hands the list
/// to `m`: [`declare_store`] makes the [`Store`] trait of it, and each backend's
/// `implement_store!` its implementation, where `read_op!` and `write_op!` say how
/// that backend runs a read (a reader connection; a pooled one) and a write (the
/// writer thread's transaction; a transaction of its own, run again when it lost
/// an idempotency race), and `grouped_op!` a write it may group with others of
/// its kind in one transaction (PostgreSQL's purchases). `[a, b]` names the arguments a backend may need to own
/// (SQLite moves them to its writer thread).
macro_rules! with_operations {
    ($callback:ident! { $($pre:tt)* }) => {
        $callback! {
            { $($pre)* }
            plain {
                /// Checks the database answers (readiness).
                read_op fn ping(&self) -> Result<()> => [] |tx| ops::members::ping(tx);
                /// A secret taem keeps for itself under `name`: the stored one, or
                /// `candidate`, stored now, when there is none yet (the first instance
                /// to ask wins; every instance then uses the same).
                write_op fn server_key(&self, name: &str, candidate: &Secret, now: DateTime<Utc>)
                    -> Result<Secret>
                    => [name, candidate] |tx| ops::members::server_key(tx, &name, &candidate, now);
                read_op fn program(&self) -> Result<Program> => [] |tx| ops::members::program(tx);
                /// Saves the settings, tiers included (members keep their tier key; one
                /// no longer in the table reads as the lowest tier).
                write_op fn set_program(&self, program: &Program) -> Result<()>
                    => [program] |tx| ops::members::set_program(tx, &program);
                write_op fn add_merchant(&self, merchant: &Merchant) -> Result<()>
                    => [merchant] |tx| ops::members::add_merchant(tx, &merchant);
                read_op fn merchant(&self, id: &str) -> Result<Merchant>
                    => [id] |tx| ops::members::merchant(tx, &id);
                read_op fn merchants(&self) -> Result<Vec<Merchant>>
                    => [] |tx| ops::members::merchants(tx);
                /// Gives a merchant a new webhook secret; the old one is still accepted
                /// until `grace_until`.
                write_op fn rotate_merchant_secret(
                    &self, id: &str, secret: &Secret, grace_until: DateTime<Utc>
                ) -> Result<Merchant>
                    => [id, secret]
                    |tx| ops::members::rotate_merchant_secret(tx, &id, &secret, grace_until);
                /// Creates a member with a fresh member code.
                write_op fn add_member(&self, member: &NewMember, now: DateTime<Utc>)
                    -> Result<Member>
                    => [member] |tx| ops::members::add_member(tx, &member, now);
                read_op fn member(&self, by: &MemberRef) -> Result<Member>
                    => [by] |tx| ops::members::member(tx, &by);
                /// Records a grant or withdrawal of marketing consent and sets it.
                write_op fn record_consent(&self, member_id: i64, granted: bool, via: &str, now: DateTime<Utc>)
                    -> Result<Member>
                    => [via] |tx| ops::privacy::record_consent(tx, (member_id, granted), &via, now);
                /// Marks the member asked for consent: true only the first time.
                write_op fn ask_consent(&self, member_id: i64, now: DateTime<Utc>) -> Result<bool>
                    => [] |tx| ops::privacy::ask_consent(tx, member_id, now);
                /// The member's consent log, oldest first.
                read_op fn consents(&self, member_id: i64) -> Result<Vec<crate::domain::privacy::Consent>>
                    => [] |tx| ops::privacy::consents(tx, member_id);
                /// Marks the member seen in chat (once a day at most).
                write_op fn mark_seen(&self, member_id: i64, now: DateTime<Utc>) -> Result<()>
                    => [] |tx| ops::privacy::seen(tx, member_id, now);
                /// Everything taem holds about a member, as JSON.
                read_op fn member_file(&self, member_id: i64) -> Result<serde_json::Value>
                    => [] |tx| ops::privacy::member_file(tx, member_id);
                /// Erases a member's personal data, leaving an anonymous stub.
                write_op fn erase_member(&self, member_id: i64, via: &str, now: DateTime<Utc>)
                    -> Result<crate::domain::privacy::Erasure>
                    => [via] |tx| ops::privacy::erase_member(tx, member_id, &via, now);
                /// Members with no activity since `cutoff` (ids after `after`).
                read_op fn inactive_members(&self, cutoff: DateTime<Utc>, after: i64, limit: i64) -> Result<Vec<i64>>
                    => [] |tx| ops::privacy::inactive_members(tx, cutoff, (after, limit));
                /// The outbox's queued rows per app: how many, and when the oldest was made.
                read_op fn outbox_depth(&self) -> Result<Vec<(String, i64, Option<DateTime<Utc>>)>>
                    => [] |tx| ops::check::outbox_depth(tx);
                /// The whole ledger read against itself (`taem check`).
                read_op fn check_ledger(&self) -> Result<crate::domain::ledger::LedgerCheck>
                    => [] |tx| ops::check::check_ledger(tx);
                /// A consistent copy of a SQLite database in a new file (`taem backup`).
                read_op fn backup(&self, path: &str) -> Result<()>
                    => [path] |tx| ops::check::backup(tx, &path);
                /// Records a run of the retention sweep.
                write_op fn add_privacy_sweep(&self, ran_at: DateTime<Utc>, cutoff: DateTime<Utc>, erased: i64)
                    -> Result<()>
                    => [] |tx| ops::privacy::add_sweep(tx, (ran_at, cutoff, erased));
                /// The last run of the retention sweep: when, the cut-off, how many.
                read_op fn last_privacy_sweep(&self)
                    -> Result<Option<(DateTime<Utc>, DateTime<Utc>, i64)>>
                    => [] |tx| ops::privacy::last_sweep(tx);
                /// A member's own settings: their language.
                write_op fn update_member(&self, member_id: i64, update: &MemberUpdate)
                    -> Result<Member>
                    => [update] |tx| ops::members::update_member(tx, member_id, &update);
                /// Members whose name starts with `prefix` (any case), by name.
                read_op fn members_named(&self, prefix: &str, limit: i64) -> Result<Vec<Member>>
                    => [prefix] |tx| ops::members::members_named(tx, &prefix, limit);
                /// Stores a member's phone number (E.164) with the time they agreed to
                /// it being kept; a number another member has is a duplicate.
                write_op fn set_phone(&self, member_id: i64, phone: &str, now: DateTime<Utc>) -> Result<Member>
                    => [phone] |tx| ops::members::set_phone(tx, member_id, &phone, now);
                /// Forgets a member's phone number and the consent to keep it.
                write_op fn clear_phone(&self, member_id: i64) -> Result<Member>
                    => [] |tx| ops::members::clear_phone(tx, member_id);
                /// Records whether messages reach the member on a platform (blocked
                /// the bot, unfollowed, came back).
                write_op fn set_reachable(&self, member_id: i64, channel: Channel, reachable: bool)
                    -> Result<()>
                    => [] |tx| ops::members::set_reachable(tx, member_id, channel, reachable);
                /// Records who invited a member: only once, only before their first
                /// purchase, never themselves and never anyone they (directly or
                /// through others) invited. Returns whether it was recorded.
                write_op fn set_referrer(&self, member_id: i64, referrer: &MemberCode)
                    -> Result<bool>
                    => [referrer] |tx| ops::members::set_referrer(tx, member_id, &referrer);
                /// Every member's facts for audiences (`bought` read when given).
                read_op fn audience_facts(
                    &self, bought: &Option<crate::domain::audience::Bought>, now: DateTime<Utc>
                ) -> Result<Vec<crate::domain::audience::Facts>>
                    => [bought] |tx| ops::audience::facts(tx, bought.as_ref(), now);
                /// One member's facts for audiences (`bought` read for `bought` when given).
                read_op fn member_facts(
                    &self, member_id: i64, bought: &Option<crate::domain::audience::Bought>,
                    now: DateTime<Utc>
                ) -> Result<Option<crate::domain::audience::Facts>>
                    => [bought] |tx| ops::audience::member_facts_with(tx, member_id, bought.as_ref(), now);
                /// Sets a member's birthday (at most one change a year); whether it
                /// holds now, and when it was last set.
                write_op fn set_birthday(&self, member_id: i64, day: u32, month: u32, now: DateTime<Utc>)
                    -> Result<(bool, Option<DateTime<Utc>>)>
                    => [] |tx| ops::audience::set_birthday(tx, member_id, (day, month), now);
                /// A member's birthday (day, month), if they gave it.
                read_op fn birthday(&self, member_id: i64) -> Result<Option<(u32, u32)>>
                    => [] |tx| ops::audience::birthday(tx, member_id);
                /// Every partner and its agreement.
                read_op fn partners(&self) -> Result<Vec<crate::domain::partner::Partner>>
                    => [] |tx| ops::partners::partners(tx);
                /// Makes a merchant a partner, or changes its agreement.
                write_op fn set_partner(
                    &self, merchant_id: &str, value_minor: i64,
                    funding: crate::domain::partner::Funding, budget: Option<i64>, now: DateTime<Utc>
                ) -> Result<crate::domain::partner::Partner>
                    => [merchant_id] |tx| ops::partners::set_partner(
                        tx, (&merchant_id, value_minor), (funding, budget), now);
                /// A period's settlement statement: as closed, or as it stands.
                read_op fn settlement(&self, q: &crate::domain::partner::StatementQuery)
                    -> Result<crate::domain::partner::Statement>
                    => [q] |tx| ops::partners::statement(tx, &q);
                /// Closes a period and keeps its statement (again: the same).
                write_op fn close_settlement(&self, q: &crate::domain::partner::StatementQuery, now: DateTime<Utc>)
                    -> Result<crate::domain::partner::Statement>
                    => [q] |tx| ops::partners::close_period(tx, &q, now);
                /// The settlement periods closed so far.
                read_op fn closed_periods(&self)
                    -> Result<std::collections::BTreeSet<crate::domain::partner::Period>>
                    => [] |tx| ops::partners::closed_periods(tx);
                /// The journeys set so far.
                read_op fn journeys(&self) -> Result<Vec<crate::domain::journey::Journey>>
                    => [] |tx| ops::journeys::journeys(tx);
                /// Stores a journey's settings.
                write_op fn set_journey(&self, journey: &crate::domain::journey::Journey, now: DateTime<Utc>)
                    -> Result<crate::domain::journey::Journey>
                    => [journey] |tx| ops::journeys::set_journey(tx, &journey, now);
                /// What a journey gave since `since`: (member, key, sent at).
                read_op fn journey_sends(&self, kind: crate::domain::journey::Kind, since: DateTime<Utc>)
                    -> Result<Vec<(i64, String, DateTime<Utc>)>>
                    => [] |tx| ops::journeys::sends(tx, kind, since);
                /// A journey's sends and its members' purchases since, for its outcome.
                read_op fn journey_results(&self, kind: crate::domain::journey::Kind)
                    -> Result<(Vec<crate::domain::journey::SendFacts>, Vec<(i64, DateTime<Utc>, i64)>)>
                    => [] |tx| ops::journeys::results(tx, kind);
                /// Members who bought since `since`, with their balance now.
                read_op fn recent_buyers(&self, since: DateTime<Utc>) -> Result<Vec<(i64, i64)>>
                    => [] |tx| ops::journeys::recent_buyers(tx, since);
                /// Gives a journey to a member under its key; false when given before.
                write_op fn give_journey(&self, gift: &crate::domain::journey::Gift) -> Result<bool>
                    => [gift] |tx| ops::journeys::give(tx, &gift);
                /// Keeps verified chat events before they are acknowledged; how many
                /// were new (a redelivered event, same id, is kept once).
                write_op fn inbox_put(&self, events: &[crate::domain::inbox::NewEvent], now: DateTime<Utc>)
                    -> Result<u64>
                    => [events] |tx| ops::inbox::put(tx, &events, now);
                /// Claims chat events to handle: each chat's oldest waiting one, not
                /// held by another worker; held until `lease_until`.
                write_op fn inbox_claim(&self, now: DateTime<Utc>, lease_until: DateTime<Utc>, limit: i64)
                    -> Result<Vec<crate::domain::inbox::Claimed>>
                    => [] |tx| ops::inbox::claim(tx, now, lease_until, limit);
                /// Marks a chat event handled and forgets what it said.
                write_op fn inbox_done(&self, id: i64, now: DateTime<Utc>) -> Result<()>
                    => [] |tx| ops::inbox::done(tx, id, now);
                /// Frees every held chat event (a lone server starting after a crash).
                write_op fn inbox_release(&self) -> Result<u64>
                    => [] |tx| ops::inbox::release(tx);
                /// Chat events waiting and when the oldest came.
                read_op fn inbox_depth(&self) -> Result<crate::domain::inbox::Depth>
                    => [] |tx| ops::inbox::depth(tx);
                /// Takes or renews a lease among the instances sharing the database;
                /// true when `holder` has it.
                write_op fn take_lease(&self, name: &str, holder: &str, now: DateTime<Utc>, until: DateTime<Utc>)
                    -> Result<bool>
                    => [name, holder] |tx| ops::inbox::take_lease(tx, &name, &holder, (now, until));
                /// Gives a lease up.
                write_op fn drop_lease(&self, name: &str, holder: &str, now: DateTime<Utc>) -> Result<()>
                    => [name, holder] |tx| ops::inbox::drop_lease(tx, &name, &holder, now);
                /// Who holds a lease and until when.
                read_op fn lease(&self, name: &str) -> Result<Option<(String, DateTime<Utc>)>>
                    => [name] |tx| ops::inbox::lease(tx, &name);
                /// What is remembered of wrong tries of `kind` (`"claim"`, `"link"`) by
                /// each of `subjects` (a member, a chat identity); subjects without any
                /// are left out.
                read_op fn failures(&self, kind: &str, subjects: &[String]) -> Result<Vec<Failures>>
                    => [kind, subjects] |tx| ops::members::failures(tx, &kind, &subjects);
                /// Counts a wrong try against each subject; failures last made before
                /// `forget_before` are forgotten first.
                write_op fn record_failure(
                    &self, kind: &str, subjects: &[String], now: DateTime<Utc>,
                    forget_before: DateTime<Utc>
                ) -> Result<()>
                    => [kind, subjects]
                    |tx| ops::members::record_failure(tx, &kind, &subjects, now, forget_before);
                /// Deletes what is kept only for a while: used and expired link codes,
                /// inbound event ids received before `events_before`, wrong tries last
                /// made before `guesses_before`.
                write_op fn prune(
                    &self, now: DateTime<Utc>, events_before: DateTime<Utc>,
                    guesses_before: DateTime<Utc>
                ) -> Result<Pruned>
                    => [] |tx| ops::members::prune(tx, now, events_before, guesses_before);
                /// Stores a one-time code that links another app's account to
                /// `member_id`; the member's earlier unused code stops working.
                write_op fn create_link(&self, member_id: i64, code: &LinkCode, expires_at: DateTime<Utc>)
                    -> Result<()>
                    => [code] |tx| ops::members::create_link(tx, member_id, &code, expires_at);
                /// Uses a link code: the platform account `by` (a `Telegram` or `Line`
                /// reference) becomes the code's member's. The account's own member, if
                /// it has no history, is removed; one with history is refused.
                write_op fn use_link(&self, code: &LinkCode, by: &MemberRef, now: DateTime<Utc>)
                    -> Result<Member>
                    => [code, by] |tx| ops::members::use_link(tx, &code, &by, now);
                /// Records a purchase and credits its points, or replays the stored
                /// answer for a receipt seen before with the same fingerprint.
                grouped_op fn record_purchase(&self, cmd: &PurchaseCommand)
                    -> Result<Recorded<PurchaseReceipt>>
                    => [cmd] |tx| ops::purchases::record_purchase(tx, &cmd);
                /// Records a refund and claws back points in proportion to the refunded
                /// amount.
                write_op fn record_refund(&self, cmd: &RefundCommand) -> Result<Recorded<RefundReceipt>>
                    => [cmd] |tx| ops::purchases::record_refund(tx, &cmd);
                /// Gives a member the points of a purchase made without one.
                write_op fn claim_receipt(
                    &self, member_id: i64, code: &ClaimCode, timing: LotTiming, now: DateTime<Utc>
                ) -> Result<ClaimReceipt>
                    => [code] |tx| ops::purchases::claim_receipt(tx, member_id, &code, timing, now);
                /// Prices a purchase exactly as `record_purchase` would, without
                /// recording it.
                read_op fn price_purchase(&self, cmd: &PurchaseCommand) -> Result<Breakdown>
                    => [cmd] |tx| ops::purchases::price_purchase(tx, &cmd);
                /// Adds a campaign; the store assigns its id and starts `awarded` at zero.
                write_op fn add_campaign(&self, campaign: &Campaign, now: DateTime<Utc>)
                    -> Result<Campaign>
                    => [campaign] |tx| ops::rules::add_campaign(tx, &campaign, now);
                read_op fn campaign(&self, id: i64) -> Result<Campaign>
                    => [] |tx| ops::rules::campaign(tx, id);
                /// Every campaign, newest first.
                read_op fn campaigns(&self) -> Result<Vec<Campaign>>
                    => [] |tx| ops::rules::campaigns(tx);
                /// Ends a campaign now (purchases that happened before still get its
                /// points).
                write_op fn end_campaign(&self, id: i64, now: DateTime<Utc>) -> Result<Campaign>
                    => [] |tx| ops::rules::end_campaign(tx, id, now);
                read_op fn campaign_results(&self, id: i64, merchant_id: &Option<String>) -> Result<CampaignResults>
                    => [merchant_id] |tx| ops::rules::campaign_results(tx, id, merchant_id.as_deref());
                /// A member's tier key (`None`: the lowest) and their spend in the
                /// program currency over the rolling window ending at `now`.
                read_op fn tier_standing(&self, member_id: i64, currency: &str, now: DateTime<Utc>)
                    -> Result<(Option<String>, i64)>
                    => [currency] |tx| ops::rules::tier_standing(tx, member_id, &currency, now);
                /// A member's tier moves, newest first.
                read_op fn tier_changes(&self, member_id: i64) -> Result<Vec<TierChange>>
                    => [] |tx| ops::rules::tier_changes(tx, member_id);
                write_op fn add_reward(&self, reward: &NewReward, now: DateTime<Utc>) -> Result<Reward>
                    => [reward] |tx| ops::rewards::add_reward(tx, &reward, now);
                read_op fn reward(&self, id: i64) -> Result<Reward>
                    => [] |tx| ops::rewards::reward(tx, id);
                read_op fn rewards(&self, include_inactive: bool) -> Result<Vec<Reward>>
                    => [] |tx| ops::rewards::rewards(tx, include_inactive);
                write_op fn set_reward_active(&self, id: i64, active: bool) -> Result<Reward>
                    => [] |tx| ops::rewards::set_reward_active(tx, id, active);
                /// Changes a reward; vouchers already issued keep what they were
                /// issued with.
                write_op fn update_reward(&self, id: i64, reward: &NewReward) -> Result<Reward>
                    => [reward] |tx| ops::rewards::update_reward(tx, id, &reward);
                /// Gives a reward a new picture, or (`None`) takes it away.
                write_op fn set_reward_picture(&self, id: i64, picture: &Option<crate::domain::picture::Picture>, now: DateTime<Utc>)
                    -> Result<Reward>
                    => [picture] |tx| ops::rewards::set_reward_picture(tx, id, picture.as_ref(), now);
                /// A reward's picture by its published name: content type and bytes.
                read_op fn reward_picture(&self, id: i64, name: &str) -> Result<Option<(String, Vec<u8>)>>
                    => [name] |tx| ops::rewards::reward_picture(tx, id, &name);
                /// Spends points on a reward and issues a voucher, atomically. The same
                /// `request_key` for the same member returns the voucher issued the
                /// first time.
                write_op fn redeem(&self, cmd: &RedeemCommand) -> Result<Voucher>
                    => [cmd] |tx| ops::rewards::redeem(tx, &cmd);
                /// Marks a voucher used at the counter; with the basket, what it takes
                /// off is worked out and kept (refused when it does not apply).
                write_op fn use_voucher(&self, code: &VoucherCode, merchant_id: &str,
                    basket: &Option<crate::domain::offer::Basket>, audit: &Option<NewAudit>, now: DateTime<Utc>)
                    -> Result<VoucherUse>
                    => [code, merchant_id, basket, audit]
                    |tx| ops::rewards::use_voucher(tx, (&code, &merchant_id), basket.as_ref(), audit.as_ref(), now);
                /// A member gives a voucher back and gets its points back.
                write_op fn cancel_voucher(&self, member_id: i64, code: &VoucherCode, now: DateTime<Utc>)
                    -> Result<Voucher>
                    => [code] |tx| ops::rewards::cancel_voucher(tx, member_id, &code, now);
                read_op fn voucher(&self, code: &VoucherCode) -> Result<Voucher>
                    => [code] |tx| ops::rewards::voucher(tx, &code);
                /// A manual correction: credits make a new lot, debits spend
                /// soonest-expiring first.
                write_op fn adjust_points(&self, cmd: &AdjustCommand) -> Result<Entry>
                    => [cmd] |tx| ops::rewards::adjust_points(tx, &cmd);
                /// Queues a reminder for each member whose points expire before
                /// `until`: one per member for all such lots not reminded yet. Returns
                /// reminders queued.
                write_op fn remind_expiring(&self, until: DateTime<Utc>, now: DateTime<Utc>) -> Result<u64>
                    => [] |tx| ops::outbox::remind_expiring(tx, until, now);
                /// Queues a campaign's announcement for every opted-in member on each
                /// channel that reaches them; a member already queued is not queued
                /// again. Returns the rows queued.
                write_op fn enqueue_broadcast(
                    &self, campaign_id: i64, only: &Option<Vec<i64>>, now: DateTime<Utc>
                ) -> Result<u64>
                    => [only] |tx| ops::outbox::enqueue_broadcast(tx, campaign_id, only.as_deref(), now);
                read_op fn broadcast_status(&self, campaign_id: i64) -> Result<BroadcastStatus>
                    => [] |tx| ops::outbox::broadcast_status(tx, campaign_id);
                /// Takes due notices to `channel` for delivery until `lease_until`
                /// (another worker may take them after that): up to `limit` single
                /// ones, and up to `batches` LINE multicast chunks whole. Marketing only
                /// when `marketing` is true (outside quiet hours). On PostgreSQL,
                /// workers skip rows others hold.
                write_op fn claim_notices(
                    &self, channel: Channel, now: DateTime<Utc>, lease_until: DateTime<Utc>,
                    limit: i64, batches: i64, marketing: bool
                ) -> Result<Vec<OutboxItem>>
                    => [] |tx| ops::Steps::claim_notices(tx, &ops::outbox::Claim {
                        channel, now, lease_until, limit, batches, marketing,
                    });
                /// Records what became of delivered notices.
                write_op fn finish_notices(&self, ids: &[i64], outcome: &Outcome, now: DateTime<Utc>)
                    -> Result<()>
                    => [ids, outcome] |tx| ops::Steps::finish_notices(tx, &ids, &outcome, now);
                /// The LINE messages a campaign's broadcast would queue now: one per
                /// LINE recipient not queued before (what LINE's quota counts).
                read_op fn broadcast_line_size(&self, campaign_id: i64, only: &Option<Vec<i64>>) -> Result<u64>
                    => [only] |tx| ops::outbox::broadcast_line_size(tx, campaign_id, only.as_deref());
                /// Pauses marketing sends to `channel` until `until`, for `reason`; true
                /// when they were not paused already (one worker of many says so).
                write_op fn pause_sends(
                    &self, channel: Channel, reason: &str, until: DateTime<Utc>, now: DateTime<Utc>
                ) -> Result<bool>
                    => [reason] |tx| ops::outbox::pause_sends(tx, channel, &reason, until, now);
                /// The pause on marketing sends to `channel` at `now`, if any.
                read_op fn send_pause(&self, channel: Channel, now: DateTime<Utc>)
                    -> Result<Option<crate::domain::quota::SendPause>>
                    => [] |tx| ops::outbox::send_pause(tx, channel, now);
                /// Lifts the pause on `channel` and makes its rows held for `reason` due
                /// at `now`; how many there were.
                write_op fn resume_sends(&self, channel: Channel, reason: &str, now: DateTime<Utc>)
                    -> Result<u64>
                    => [reason] |tx| ops::outbox::resume_sends(tx, channel, &reason, now);
                /// Rows queued to `channel` held for `reason`.
                read_op fn held_notices(&self, channel: Channel, reason: &str) -> Result<i64>
                    => [reason] |tx| ops::outbox::held_notices(tx, channel, &reason);
                /// A member's notices, newest first: (kind, channel, status).
                read_op fn notices(&self, member_id: i64) -> Result<Vec<(String, String, String)>>
                    => [] |tx| ops::outbox::notices(tx, member_id);
                read_op fn lots(&self, member_id: i64) -> Result<Vec<Lot>>
                    => [] |tx| ops::members::lots(tx, member_id);
                read_op fn vouchers(&self, member_id: i64) -> Result<Vec<Voucher>>
                    => [] |tx| ops::rewards::vouchers(tx, member_id);
                /// The newest entries first.
                read_op fn entries(&self, member_id: i64, limit: i64) -> Result<Vec<Entry>>
                    => [] |tx| ops::members::entries(tx, member_id, limit);
                /// Every member's balance against their entries and lots.
                read_op fn audit(&self) -> Result<Vec<LedgerAudit>>
                    => [] |tx| ops::members::audit(tx);
                /// Adds a staff member (no password yet: they accept an invitation).
                write_op fn add_staff(&self, staff: &NewStaff, now: DateTime<Utc>) -> Result<Staff>
                    => [staff] |tx| ops::staff::add_staff(tx, &staff, now);
                read_op fn staff(&self, id: i64) -> Result<Staff> => [] |tx| ops::staff::staff(tx, id);
                /// Changes a staff member's role, merchant, or whether they are
                /// disabled (a disabled one's sessions end).
                write_op fn update_staff(&self, id: i64, change: &StaffChange, now: DateTime<Utc>) -> Result<Staff>
                    => [change] |tx| ops::staff::update_staff(tx, id, &change, now);
                /// Every staff member, by email.
                read_op fn staff_list(&self) -> Result<Vec<Staff>>
                    => [] |tx| ops::staff::staff_list(tx);
                /// A staff member and their password hash (an Argon2id PHC string, if
                /// they have one), by email.
                read_op fn credentials(&self, email: &str) -> Result<Option<(Staff, Option<String>)>>
                    => [email] |tx| ops::staff::credentials(tx, &email);
                /// Stores a one-time link (only its token's hash) for a staff member;
                /// their earlier unused link for the same purpose stops working.
                write_op fn add_staff_link(
                    &self, token_hash: &str, staff_id: i64, purpose: LinkPurpose,
                    expires_at: DateTime<Utc>, now: DateTime<Utc>
                ) -> Result<()>
                    => [token_hash]
                    |tx| ops::staff::add_link(tx, (&token_hash, staff_id, purpose), expires_at, now);
                /// The staff member an unused, unexpired one-time link was made for.
                read_op fn staff_link_owner(&self, token_hash: &str, purpose: LinkPurpose, now: DateTime<Utc>)
                    -> Result<Staff>
                    => [token_hash] |tx| ops::staff::link_owner(tx, &token_hash, purpose, now);
                /// Uses a one-time link to set a password (an Argon2id PHC string):
                /// the link must be unused and unexpired, and cannot be used again;
                /// the staff member's sessions end.
                write_op fn accept_staff_link(
                    &self, token_hash: &str, purpose: LinkPurpose, password_hash: &str,
                    now: DateTime<Utc>
                ) -> Result<Staff>
                    => [token_hash, password_hash]
                    |tx| ops::staff::accept_link(tx, &token_hash, purpose, &password_hash, now);
                /// Starts a console session (the token's hash, and its CSRF token).
                write_op fn add_session(&self, token_hash: &str, staff_id: i64, csrf: &str, now: DateTime<Utc>)
                    -> Result<()>
                    => [token_hash, csrf] |tx| ops::staff::add_session(tx, (&token_hash, staff_id, &csrf), now);
                /// The session a token's hash names: its staff member, CSRF token,
                /// last use and the programme's idle limit in hours. A read: the
                /// service decides whether it is still live.
                read_op fn session(&self, token_hash: &str)
                    -> Result<Option<crate::domain::staff::SessionRow>>
                    => [token_hash] |tx| ops::staff::session(tx, &token_hash);
                /// Records a session's use.
                write_op fn touch_session(&self, token_hash: &str, now: DateTime<Utc>) -> Result<()>
                    => [token_hash] |tx| ops::staff::touch_session(tx, &token_hash, now);
                write_op fn end_session(&self, token_hash: &str) -> Result<()>
                    => [token_hash] |tx| ops::staff::end_session(tx, &token_hash);
                /// Takes points from a member for a sale at a till (held at once).
                write_op fn reserve_points(&self, cmd: &ReserveCommand) -> Result<Recorded<PointPayment>>
                    => [cmd] |tx| ops::payments::reserve(tx, &cmd);
                /// The customer's yes or no, in their chat.
                write_op fn answer_payment(&self, id: &str, member_id: i64, yes: bool, now: DateTime<Utc>)
                    -> Result<PointPayment>
                    => [id] |tx| ops::payments::answer_payment(tx, (&id, member_id), yes, now);
                /// The till makes a confirmed payment final.
                write_op fn capture_payment(&self, id: &str, merchant_id: &str, receipt_id: &Option<String>,
                    audit: &Option<NewAudit>, now: DateTime<Utc>) -> Result<Recorded<PointPayment>>
                    => [id, merchant_id, receipt_id, audit]
                    |tx| ops::payments::capture_payment(tx, (&id, &merchant_id), receipt_id.as_deref(), audit.as_ref(), now);
                /// The till gives a payment's points back.
                write_op fn release_payment(&self, id: &str, merchant_id: &str, audit: &Option<NewAudit>,
                    now: DateTime<Utc>) -> Result<Recorded<PointPayment>>
                    => [id, merchant_id, audit]
                    |tx| ops::payments::release_payment(tx, (&id, &merchant_id), audit.as_ref(), now);
                /// A payment (as its merchant sees it, or with `None` as taem does).
                read_op fn point_payment(&self, id: &str, merchant_id: &Option<String>) -> Result<PointPayment>
                    => [id, merchant_id] |tx| ops::payments::point_payment(tx, &id, merchant_id.as_deref());
                /// Keeps a member's new one-time pay code (its hash).
                write_op fn add_pay_code(&self, member_id: i64, code_hash: &str, expires_at: DateTime<Utc>,
                    now: DateTime<Utc>) -> Result<bool>
                    => [code_hash] |tx| ops::payments::add_pay_code(tx, (member_id, &code_hash), expires_at, now);
                /// Appends to the audit log.
                write_op fn add_audit(&self, entry: &NewAudit, now: DateTime<Utc>) -> Result<()>
                    => [entry] |tx| ops::staff::audit(tx, &entry, now);
                /// The audit log, newest first.
                read_op fn audit_log(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>>
                    => [filter] |tx| ops::staff::audit_log(tx, &filter);
                /// Every local day's points flows in `tz`, for the whole programme or
                /// one shop (the roll-up and the entries after it, in one read).
                read_op fn ledger_days(&self, tz: chrono_tz::Tz, merchant_id: &Option<String>)
                    -> Result<std::collections::BTreeMap<chrono::NaiveDate, crate::domain::report::Flows>>
                    => [merchant_id] |tx| ops::reports::ledger_days(tx, tz, merchant_id.as_deref());
                /// What the liability report is computed from (cohorts, lots left,
                /// balances, what redeemed points bought), in one read.
                /// Lots are read only with `lots` (the time they are read at), and
                /// with a shop only its lots.
                read_op fn liability_facts(&self, tz: chrono_tz::Tz, lots: Option<DateTime<Utc>>, merchant_id: &Option<String>)
                    -> Result<crate::domain::liability::LiabilityFacts>
                    => [merchant_id] |tx| ops::reports::liability_facts(tx, tz, lots, merchant_id.as_deref());
                /// Vouchers issued in `[from, to)` (with a shop: used at it), by
                /// reward and status.
                read_op fn voucher_stats(&self, from: DateTime<Utc>, to: DateTime<Utc>, merchant_id: &Option<String>)
                    -> Result<Vec<crate::domain::report::VoucherStat>>
                    => [merchant_id] |tx| ops::report_stats::voucher_stats(tx, (from, to), merchant_id.as_deref());
                /// Payments captured at tills (all, or one shop's) and cashback
                /// credit given in `[from, to)`.
                read_op fn payment_stats(&self, from: DateTime<Utc>, to: DateTime<Utc>, merchant_id: &Option<String>)
                    -> Result<crate::domain::report::PaymentStats>
                    => [merchant_id] |tx| ops::report_stats::payment_stats(tx, (from, to), merchant_id.as_deref());
                /// Members, and their purchases in `currency` (all, or at one
                /// shop), in `[from, to)`.
                read_op fn member_stats(&self, from: DateTime<Utc>, to: DateTime<Utc>, currency: &str, merchant_id: &Option<String>)
                    -> Result<crate::domain::report::MemberStats>
                    => [currency, merchant_id] |tx| ops::report_stats::member_stats(tx, (from, to), &currency, merchant_id.as_deref());
                /// Members who bought in `[from, now)` in `currency`, with what they bought.
                read_op fn segment_buyers(&self, from: DateTime<Utc>, now: DateTime<Utc>, currency: &str)
                    -> Result<Vec<(crate::domain::segment::Buyer, DateTime<Utc>)>>
                    => [currency] |tx| ops::segments::buyers(tx, (from, now), &currency);
                /// The items of members' purchases in `[from, now)` in `currency`.
                read_op fn purchase_items(&self, from: DateTime<Utc>, now: DateTime<Utc>, currency: &str)
                    -> Result<Vec<(i64, String)>>
                    => [currency] |tx| ops::segments::purchase_items(tx, (from, now), &currency);
                /// A new run of classes and segments.
                write_op fn start_segment_run(&self, computed_at: DateTime<Utc>, window_start: DateTime<Utc>)
                    -> Result<i64>
                    => [] |tx| ops::segments::start_run(tx, (computed_at, window_start));
                /// Adds members' classes and segments to a run.
                write_op fn add_segments(&self, run_id: i64, rows: &[crate::domain::segment::MemberSegment])
                    -> Result<()>
                    => [rows] |tx| ops::segments::add_rows(tx, run_id, &rows);
                /// Marks a run done (it is read from now on) and deletes older ones.
                write_op fn finish_segment_run(&self, run_id: i64) -> Result<()>
                    => [] |tx| ops::segments::finish_run(tx, run_id);
                /// A member's class and segment in the latest run.
                read_op fn member_segment(&self, member_id: i64)
                    -> Result<Option<crate::domain::segment::MemberSegment>>
                    => [] |tx| ops::segments::member_segment(tx, member_id);
                /// The latest run's members (of one class or segment), by sales.
                read_op fn segment_members(&self, class: &Option<String>, segment: &Option<String>)
                    -> Result<Vec<crate::domain::segment::MemberSegment>>
                    => [class, segment] |tx| ops::segments::segment_members(tx, (class.as_deref(), segment.as_deref()));
                /// The latest run: when, all members, and per (class, segment)
                /// members, sales, purchases.
                /// With a shop: its customers in the run, their purchases there.
                read_op fn segment_summary(&self, merchant_id: &Option<String>) -> Result<crate::domain::segment::SegmentSummary>
                    => [merchant_id] |tx| ops::segments::segment_summary(tx, merchant_id.as_deref());
                /// Members who had joined by `to`, and each one's sales in `[from,
                /// to)` (all, or at one shop).
                read_op fn window_spend(&self, from: DateTime<Utc>, to: DateTime<Utc>, currency: &str, merchant_id: &Option<String>)
                    -> Result<(Vec<i64>, Vec<(i64, i64)>)>
                    => [currency, merchant_id] |tx| ops::report_stats::window_spend(tx, (from, to), &currency, merchant_id.as_deref());
                /// What redeemed points bought (vouchers' face value, payments at tills).
                read_op fn redeemed_worth(&self) -> Result<crate::domain::liability::RedeemedWorth>
                    => [] |tx| ops::reports::redeemed_worth(tx);
                /// Adds the next entries made before `cutoff` to the roll-up by local
                /// day; whether more remain.
                write_op fn roll_up_ledger(&self, tz: chrono_tz::Tz, cutoff: DateTime<Utc>) -> Result<bool>
                    => [] |tx| ops::reports::roll_up(tx, tz, cutoff);
            }
            custom {
                /// Gives back the points of payments whose hold ran out (each one a
                /// short transaction, checked again under its lock). Returns the
                /// payments and the points given back.
                fn expire_payments(&self, now: DateTime<Utc>) -> Result<(u64, i64)> {
                    let (mut count, mut points) = (0, 0);
                    let mut after = String::new();
                    loop {
                        let due = read_op!(self, [after], |tx| ops::payments::due_payments(tx, now, &after))?;
                        let Some(last) = due.last().cloned() else { break };
                        after = last;
                        for id in due {
                            if let Some(p) = write_op!(self, [id], |tx| ops::payments::expire_payment(tx, &id, now))? {
                                count += 1;
                                points += p;
                            }
                        }
                    }
                    Ok((count, points))
                }
                /// The periodic review: members who held their tier long enough and
                /// whose spend no longer reaches it move down. Returns the moves made.
                /// Each member is a short transaction under their lock, so a purchase
                /// moving them up at the same moment is never undone by a stale review.
                fn review_tiers(&self, tiers: &Tiers, currency: &str, now: DateTime<Utc>)
                    -> Result<Vec<TierChange>>
                {
                    let holders = read_op!(self, [tiers], |tx| ops::rules::tier_holders(tx, &tiers))?;
                    let mut moves = Vec::new();
                    for member_id in holders {
                        moves.extend(write_op!(self, [tiers, currency], |tx| {
                            ops::rules::review_member(tx, member_id, &tiers, &currency, now)
                        })?);
                    }
                    Ok(moves)
                }
                /// Expires lots past their expiry and vouchers past theirs (giving
                /// those points back). Vouchers first: their points go back to their
                /// lots, which may themselves be past expiry and are then expired
                /// below. Each voucher and each member is a short transaction that
                /// locks the member first, like every other operation; what was
                /// picked is checked again under the lock, so another process
                /// sweeping at the same time never expires anything twice. The cursors
                /// make each pass finish even when rows are skipped.
                fn expire_due(&self, now: DateTime<Utc>) -> Result<ExpirySweep> {
                    let mut sweep = ExpirySweep::default();
                    // Payments' holds first: their points go back to lots the
                    // steps below may expire.
                    let (payments, points) = self.expire_payments(now).await?;
                    sweep.payments_expired = payments;
                    sweep.points_released += points;
                    let mut after = 0;
                    loop {
                        let due = read_op!(self, [], |tx| ops::rewards::due_vouchers(tx, now, after))?;
                        let Some(&(last, _)) = due.last() else { break };
                        after = last;
                        for v in due {
                            let released =
                                write_op!(self, [], |tx| ops::rewards::expire_voucher(tx, v, now))?;
                            if let Some(points) = released {
                                sweep.vouchers_expired += 1;
                                sweep.points_released += points;
                            }
                        }
                    }
                    let mut after = 0;
                    loop {
                        let due = read_op!(self, [], |tx| ops::rewards::due_members(tx, now, after))?;
                        let Some(&last) = due.last() else { break };
                        after = last;
                        for member_id in due {
                            let (lots, points) =
                                write_op!(self, [], |tx| ops::ledger::expire_member_lots(tx, member_id, now))?;
                            sweep.lots_expired += lots;
                            sweep.points_expired += points;
                        }
                    }
                    Ok(sweep)
                }
            }
        }
    };
}

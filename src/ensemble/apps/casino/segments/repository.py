"""Segments' set-based SQL: members' daily figures (added to by one event, or rebuilt from
every action and purchase: the same figures either way) and the RFM run's steps, each one
statement whatever the number of members."""

from __future__ import annotations

from ensemble.apps.casino.segments.domain import RfmRules, group_sql

UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


def action_figures(source: str) -> str:
    """The figures of each action of `source` (rows `user_id, action_type, context,
    created_at`): one action, and a hand's bet and payout read from `casino.hands` (the hand
    the context names, of the same member), never from the context a client could write."""
    return f"""
    SELECT a.user_id, a.created_at AS at, 1 AS actions, (h.id IS NOT NULL)::int AS hands,
        CASE WHEN h.currency = 'coins' THEN h.bet ELSE 0 END AS coins_bet,
        CASE WHEN h.currency = 'coins' THEN h.payout ELSE 0 END AS coins_won,
        CASE WHEN h.currency = 'gems' THEN h.bet ELSE 0 END AS gems_spent,
        0 AS money_cents, 0 AS purchases
    FROM {source} a
    LEFT JOIN casino.hands h
        ON a.action_type IN ('SLOT_SPIN', 'GACHA_SPIN') AND h.user_id = a.user_id
        AND h.id = CASE WHEN a.context->>'hand_id' ~ '{UUID_PATTERN}'
            THEN CAST(a.context->>'hand_id' AS uuid) END
    """


def purchase_figures(condition: str) -> str:
    """The figures of each fulfilled purchase matching `condition`: money (cents) or gems
    spent, on the day it was fulfilled (a refund later does not undo them)."""
    return f"""
    SELECT p.user_id, p.fulfilled_at AS at, 0 AS actions, 0 AS hands, 0 AS coins_bet,
        0 AS coins_won, CASE WHEN p.price_currency = 'gems' THEN p.amount ELSE 0 END AS gems_spent,
        CASE WHEN p.price_currency = 'USD' THEN p.amount ELSE 0 END AS money_cents, 1 AS purchases
    FROM casino.purchases p
    WHERE p.fulfilled_at IS NOT NULL AND {condition}
    """


COLUMNS = "actions, hands, coins_bet, coins_won, gems_spent, money_cents, purchases"
_SUMS = ", ".join(f"sum({column})" for column in COLUMNS.split(", "))
_ADDED = ", ".join(f"{column} = d.{column} + excluded.{column}" for column in COLUMNS.split(", "))


def _days(figures: str) -> str:
    return f"""
    SELECT user_id, CAST(at AT TIME ZONE 'UTC' AS date), {_SUMS}, max(at)
    FROM ({figures}) figures GROUP BY 1, 2
    """


def add_figures(figures: str) -> str:
    """Add `figures` to the members' days, and mark those members for the next RFM run."""
    return f"""
    WITH added AS (
        INSERT INTO casino.member_days AS d (user_id, day, {COLUMNS}, last_activity_at)
        {_days(figures)}
        ON CONFLICT (user_id, day) DO UPDATE SET {_ADDED},
            last_activity_at = greatest(d.last_activity_at, excluded.last_activity_at)
        RETURNING user_id
    )
    INSERT INTO casino.segment_dirty (user_id) SELECT DISTINCT user_id FROM added
    ON CONFLICT DO NOTHING
    """


ONE_ACTION = """(SELECT CAST(:user_id AS uuid) AS user_id, CAST(:action_type AS text) AS
    action_type, CAST(:context AS jsonb) AS context, CAST(:at AS timestamptz) AS created_at)"""
ADD_ACTION = add_figures(action_figures(ONE_ACTION))
ADD_PURCHASE = add_figures(purchase_figures("p.id = CAST(:purchase_id AS uuid)"))

REBUILD = f"""
INSERT INTO casino.member_days (user_id, day, {COLUMNS}, last_activity_at)
{_days(action_figures("casino.actions") + " UNION ALL " + purchase_figures("true"))}
"""
"""Every member's days from all their actions and purchases (into an emptied table)."""


# the RFM run

LOCK = "SELECT pg_advisory_xact_lock(hashtext('casino.rfm'))"
LAST_AS_OF = "SELECT as_of FROM casino.rfm_runs ORDER BY id DESC LIMIT 1"
TARGETS_TABLE = "CREATE TEMPORARY TABLE rfm_targets (user_id uuid PRIMARY KEY) ON COMMIT DROP"
CLEAR_DIRTY = "DELETE FROM casino.segment_dirty"

TARGETS = """
WITH cleared AS (DELETE FROM casino.segment_dirty RETURNING user_id)
INSERT INTO rfm_targets (user_id)
SELECT user_id FROM cleared
UNION
SELECT user_id FROM casino.member_days
WHERE day > CAST(:old_start AS date) AND day <= CAST(:new_start AS date)
UNION
SELECT s.user_id FROM casino.user_segments s
JOIN unnest(CAST(:cuts AS int[])) AS cut
    ON s.last_active_on >= CAST(:old_as_of AS date) - cut
    AND s.last_active_on < CAST(:as_of AS date) - cut
"""
"""Whom an incremental run scores: members whose days changed since the last run (taken
from `segment_dirty`), members with a day that left the window since (their frequency and
money), and members whose days since last activity crossed a recency cut since."""


def score(rules: RfmRules, *, targeted: bool) -> str:
    """Score members (all with days, or those of `rfm_targets`), save changed scores, and
    record group changes; answers how many rows changed and how many moved group."""
    join = "JOIN rfm_targets USING (user_id)" if targeted else ""
    return f"""
    WITH figures AS (
        SELECT user_id, max(day) AS last_active_on,
            count(*) FILTER (WHERE day > CAST(:window_start AS date)) AS active_days,
            coalesce(sum(money_cents) FILTER (WHERE day > CAST(:window_start AS date)), 0)
                AS money_cents
        FROM casino.member_days {join}
        GROUP BY user_id
    ), scored AS (
        SELECT *, {rules.r_sql()} AS r, {rules.f_sql()} AS f, {rules.m_sql()} AS m,
            {rules.ltv_sql()} AS ltv_score
        FROM figures
    ), grouped AS (
        SELECT *, CAST({group_sql()} AS casino.rfm_group) AS rfm_group FROM scored
    ), old AS (
        SELECT s.user_id, s.rfm_group FROM casino.user_segments s JOIN grouped USING (user_id)
    ), saved AS (
        INSERT INTO casino.user_segments AS s (
            user_id, rfm_group, r, f, m, ltv_score, last_active_on, active_days, money_cents,
            updated_at
        )
        SELECT user_id, rfm_group, r, f, m, ltv_score, last_active_on, active_days,
            money_cents, CAST(:now AS timestamptz)
        FROM grouped
        ON CONFLICT (user_id) DO UPDATE SET
            rfm_group = excluded.rfm_group, r = excluded.r, f = excluded.f, m = excluded.m,
            ltv_score = excluded.ltv_score, last_active_on = excluded.last_active_on,
            active_days = excluded.active_days, money_cents = excluded.money_cents,
            updated_at = excluded.updated_at
        WHERE (s.rfm_group, s.r, s.f, s.m, s.ltv_score, s.last_active_on, s.active_days,
            s.money_cents)
            IS DISTINCT FROM (excluded.rfm_group, excluded.r, excluded.f, excluded.m,
            excluded.ltv_score, excluded.last_active_on, excluded.active_days,
            excluded.money_cents)
        RETURNING user_id, rfm_group, r, f, m
    ), moved AS (
        INSERT INTO casino.segment_history (user_id, from_group, to_group, r, f, m, changed_at)
        SELECT saved.user_id, old.rfm_group, saved.rfm_group, saved.r, saved.f, saved.m,
            CAST(:now AS timestamptz)
        FROM saved LEFT JOIN old USING (user_id)
        WHERE old.rfm_group IS DISTINCT FROM saved.rfm_group
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM figures) AS scored, (SELECT count(*) FROM saved) AS changed,
        (SELECT count(*) FROM moved) AS moved
    """


RECORD_RUN = """
INSERT INTO casino.rfm_runs (as_of, "full", touched, changed, started_at, finished_at)
VALUES (CAST(:as_of AS date), :full, :touched, :changed, CAST(:started_at AS timestamptz),
    clock_timestamp())
"""

-- 015_reconcile_topology.sql: reconciliation runs the scheduler starts after a topology change
-- (issue 21: a Redis restart or failover, a slot map change, a new PostgreSQL primary) are
-- recorded with trigger 'topology' (docs/SCHEDULER.md, "Reconciliation after a topology change").
--
--   reconcile_runs.trigger   'operator' | 'schedule' | 'topology'

ALTER TABLE reconcile_runs DROP CONSTRAINT reconcile_runs_trigger_check;
ALTER TABLE reconcile_runs ADD CONSTRAINT reconcile_runs_trigger_check
    CHECK (trigger IN ('operator', 'schedule', 'topology'));

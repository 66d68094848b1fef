-- 0012_auth_cache_used: when each authorization cache entry was last stored
-- or used (epoch seconds), for 2.0.1's AuthCacheCtrlr.LifeTime (C10.FR.08:
-- an entry not used for that long is removed). Entries from before this step
-- have none and are kept until their next use says one.
ALTER TABLE auth_cache ADD COLUMN used REAL;

-- 0007_transaction_events: how many messages each transaction has queued.
--
-- 2.0.1 numbers the TransactionEvents of a transaction (seqNo, from 0,
-- without gaps), also across a restart: the count is kept with the
-- transaction and raised in the commit that queues each message. A
-- transaction stored before this had queued at least its start.
ALTER TABLE tx ADD COLUMN events INTEGER NOT NULL DEFAULT 0;
UPDATE tx SET events = 1;

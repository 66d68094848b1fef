-- 0009_display_messages: OCPP 2.0.1's display messages (O01-O06).
--
-- What SetDisplayMessage stored, by its id (the same id replaces), as the
-- MessageInfo JSON of the request; `seq` grows with each one set, so the
-- newest of equal priority can be told apart after a restart.
CREATE TABLE display_message (
    id      INTEGER PRIMARY KEY,
    seq     INTEGER NOT NULL,
    message TEXT NOT NULL
);

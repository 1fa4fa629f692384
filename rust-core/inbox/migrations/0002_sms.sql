-- The one-SMS summary from the gateway: kept as received, matched to its case
-- by session uid (the case is made by the SMS when it comes first).
CREATE TABLE sms_messages (
    id SERIAL_PK,
    received_at BIGINT NOT NULL,
    sender TEXT NOT NULL,
    body TEXT NOT NULL,
    session_uid TEXT NOT NULL,
    case_id BIGINT REFERENCES cases(id)
);
CREATE UNIQUE INDEX sms_messages_once ON sms_messages(session_uid, body);
ALTER TABLE cases ADD COLUMN sms TEXT;
ALTER TABLE cases ADD COLUMN sms_at BIGINT;

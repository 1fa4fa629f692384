-- Devices enrolled by an administrator: only these may upload or pull reviews.
CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    public_key TEXT NOT NULL,
    label TEXT NOT NULL,
    enrolled_at BIGINT NOT NULL,
    enrolled_by TEXT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE users (
    id SERIAL_PK,
    login TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('reviewer', 'admin')),
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    disabled_at BIGINT
);

-- Browser sessions: the cookie holds a random token, the table its SHA-256.
CREATE TABLE web_sessions (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    csrf TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Failed logins, by login name and by client address (brute-force limit).
CREATE TABLE login_failures (
    id SERIAL_PK,
    subject TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX login_failures_subject ON login_failures(subject, at);

-- tus uploads: one per bundle id. The offset moves only by a conditional
-- UPDATE, so instances sharing the database never both take a chunk.
CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    bundle_id TEXT NOT NULL UNIQUE,
    device_id TEXT NOT NULL REFERENCES devices(id),
    kind TEXT NOT NULL,
    length BIGINT NOT NULL,
    upload_offset BIGINT NOT NULL,
    verdict TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX uploads_device_open ON uploads(device_id) WHERE verdict IS NULL;

CREATE TABLE upload_chunks (
    upload_id TEXT NOT NULL REFERENCES uploads(id),
    start_at BIGINT NOT NULL,
    data BYTES NOT NULL,
    PRIMARY KEY (upload_id, start_at)
);

-- Each bundle id is taken once (docs/wire-format.md, step 6).
CREATE TABLE bundles (
    bundle_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    session_uid TEXT NOT NULL,
    device_id TEXT NOT NULL,
    received_at BIGINT NOT NULL
);

-- One case per session uid: made by whichever of its results bundle,
-- photos bundle or SMS arrives first.
CREATE TABLE cases (
    id SERIAL_PK,
    session_uid TEXT NOT NULL UNIQUE,
    device_id TEXT NOT NULL,
    patient TEXT,
    machine_outcome TEXT,
    -- 0 refer, 1 inconclusive, 2 no abnormality detected, 3 not known yet
    urgency BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'reviewed')),
    closed_at BIGINT,
    received_at BIGINT NOT NULL,
    summary TEXT,
    fhir TEXT,
    record TEXT,
    results_at BIGINT,
    photos_at BIGINT,
    reviewed_at BIGINT,
    reviewed_by TEXT,
    final_outcome TEXT
);
CREATE INDEX cases_queue ON cases(status, urgency, closed_at, id);
CREATE INDEX cases_device ON cases(device_id);

-- Files of a case: the PDF report, the photos, and pictures made from them.
CREATE TABLE case_files (
    case_id BIGINT NOT NULL REFERENCES cases(id),
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    data BYTES NOT NULL,
    PRIMARY KEY (case_id, name)
);

-- Reviews made here; they travel back to the device that sent the case.
CREATE TABLE reviews (
    id TEXT PRIMARY KEY,
    case_id BIGINT NOT NULL REFERENCES cases(id),
    kind TEXT NOT NULL CHECK (kind IN ('relabel_cell', 'confirm', 'override_outcome')),
    field BIGINT,
    cell BIGINT,
    label TEXT,
    outcome TEXT,
    reviewer_id BIGINT NOT NULL REFERENCES users(id),
    reviewer TEXT NOT NULL,
    at BIGINT NOT NULL,
    note TEXT,
    acked_at BIGINT
);
CREATE INDEX reviews_case ON reviews(case_id, at);

-- Who did what (never patient data: case ids and device ids only).
CREATE TABLE audit (
    id SERIAL_PK,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);

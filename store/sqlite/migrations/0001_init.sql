-- Herald's tables on SQLite. Times are microseconds since the Unix epoch.
-- Secrets (*_sealed) are AES-256-GCM sealed by the application.

CREATE TABLE herald_project (
    id          TEXT PRIMARY KEY,
    title       TEXT NOT NULL,
    create_time INTEGER NOT NULL,
    update_time INTEGER NOT NULL
);

CREATE TABLE herald_webhook (
    project_id            TEXT NOT NULL REFERENCES herald_project (id) ON DELETE CASCADE,
    id                    TEXT NOT NULL,
    type                  TEXT NOT NULL,
    title                 TEXT NOT NULL,
    url_sealed            BLOB NOT NULL,
    url_preview           TEXT NOT NULL,
    notification_types    TEXT NOT NULL,
    direct_message        BOOLEAN NOT NULL,
    signing_secret_sealed BLOB,
    keyword               TEXT NOT NULL,
    enabled               BOOLEAN NOT NULL,
    disabled_reason       TEXT NOT NULL,
    create_time           INTEGER NOT NULL,
    update_time           INTEGER NOT NULL,
    PRIMARY KEY (project_id, id)
);

CREATE TABLE herald_event (
    project_id  TEXT NOT NULL REFERENCES herald_project (id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    type        TEXT NOT NULL,
    body        TEXT NOT NULL,
    create_time INTEGER NOT NULL,
    PRIMARY KEY (project_id, id)
);

CREATE TABLE herald_delivery (
    id                TEXT PRIMARY KEY,
    project_id        TEXT NOT NULL,
    event_id          TEXT NOT NULL,
    webhook_id        TEXT NOT NULL,
    state             TEXT NOT NULL,
    route             TEXT NOT NULL,
    recipients        TEXT NOT NULL,
    attempt_count     INTEGER NOT NULL,
    schedule_attempts INTEGER NOT NULL,
    generation        INTEGER NOT NULL,
    next_attempt_time INTEGER,
    last_error        TEXT NOT NULL,
    create_time       INTEGER NOT NULL,
    update_time       INTEGER NOT NULL,
    delivered_time    INTEGER,
    FOREIGN KEY (project_id, event_id) REFERENCES herald_event (project_id, id) ON DELETE CASCADE
);

CREATE INDEX herald_delivery_project ON herald_delivery (project_id, id);
CREATE INDEX herald_delivery_event ON herald_delivery (project_id, event_id);
CREATE INDEX herald_delivery_webhook ON herald_delivery (project_id, webhook_id, id);
CREATE INDEX herald_delivery_live ON herald_delivery (state) WHERE state IN ('PENDING', 'RETRYING');

CREATE TABLE herald_attempt (
    delivery_id   TEXT NOT NULL REFERENCES herald_delivery (id) ON DELETE CASCADE,
    number        INTEGER NOT NULL,
    target        TEXT NOT NULL,
    start_time    INTEGER NOT NULL,
    duration_ms   INTEGER NOT NULL,
    http_status   INTEGER NOT NULL,
    platform_code TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    error         TEXT NOT NULL,
    request_body  TEXT NOT NULL,
    response_body TEXT NOT NULL,
    PRIMARY KEY (delivery_id, number)
);

CREATE TABLE herald_setting (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

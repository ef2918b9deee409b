-- WebAuthn credentials (passkeys and security keys). `credential` is the WebAuthn library's
-- serialized credential (public key, counter, backup flags); `sign_count` mirrors its counter so
-- that the use of a credential can be a conditional update.

CREATE TABLE webauthn_credentials (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('passkey', 'security_key')),
    name TEXT NOT NULL,
    credential_id BLOB NOT NULL,
    credential TEXT NOT NULL,
    sign_count INTEGER NOT NULL CHECK (sign_count >= 0),
    backup_eligible INTEGER NOT NULL,
    backed_up INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    last_used_at TEXT
);
CREATE UNIQUE INDEX webauthn_credentials_credential_id ON webauthn_credentials (credential_id);
CREATE INDEX webauthn_credentials_user_id ON webauthn_credentials (user_id);

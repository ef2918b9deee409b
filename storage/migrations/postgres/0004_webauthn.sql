-- WebAuthn credentials (passkeys and security keys). `credential` is the WebAuthn library's
-- serialized credential (public key, counter, backup flags); `sign_count` mirrors its counter so
-- that the use of a credential can be a conditional update.

CREATE TABLE webauthn_credentials (
    id TEXT COLLATE "C" PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('passkey', 'security_key')),
    name TEXT NOT NULL,
    credential_id BYTEA NOT NULL,
    credential TEXT NOT NULL,
    sign_count BIGINT NOT NULL CHECK (sign_count >= 0),
    backup_eligible BOOLEAN NOT NULL,
    backed_up BOOLEAN NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX webauthn_credentials_credential_id ON webauthn_credentials (credential_id);
CREATE INDEX webauthn_credentials_user_id ON webauthn_credentials (user_id);

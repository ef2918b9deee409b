// The console's WebAuthn calls. Options arrive as the server's JSON and credentials leave as
// JSON, both converted by the browser itself (WebAuthn Level 3's parse*OptionsFromJSON and
// PublicKeyCredential.toJSON). Failures are thrown as the DOMException's name, so the Rust side
// can tell a cancelled dialog from an unknown one.

let pending = null;

export function available() {
  return typeof window.PublicKeyCredential === 'function'
    && typeof PublicKeyCredential.parseRequestOptionsFromJSON === 'function'
    && typeof PublicKeyCredential.parseCreationOptionsFromJSON === 'function'
    && !!navigator.credentials;
}

export async function autofill() {
  if (!available() || typeof PublicKeyCredential.isConditionalMediationAvailable !== 'function') {
    return false;
  }
  try {
    return await PublicKeyCredential.isConditionalMediationAvailable();
  } catch {
    return false;
  }
}

// Only one request at a time: a new one (or the step changing) ends the one waiting.
export function abort() {
  if (pending) {
    pending.abort();
    pending = null;
  }
}

async function run(call) {
  if (!available()) throw 'Unsupported';
  abort();
  const controller = new AbortController();
  pending = controller;
  try {
    const credential = await call(controller.signal);
    if (!credential) throw 'NotAllowedError';
    return JSON.stringify(credential.toJSON());
  } catch (e) {
    throw typeof e === 'string' ? e : (e && e.name) || 'Error';
  } finally {
    if (pending === controller) pending = null;
  }
}

export function get(options, conditional) {
  return run((signal) => {
    const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(JSON.parse(options).publicKey);
    const request = { publicKey, signal };
    if (conditional) request.mediation = 'conditional';
    return navigator.credentials.get(request);
  });
}

export function create(options) {
  return run((signal) => {
    const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(JSON.parse(options).publicKey);
    return navigator.credentials.create({ publicKey, signal });
  });
}

/**
 * Limits both sides know: the server enforces them, the client CLI (which carries no server code) checks them
 * before it asks, so a typo is answered without a round trip.
 */
export const RETENTION_MAX_KEEP = 10_000;
export const RETENTION_MAX_DAYS = 3650;
/** Bytes of one build secret's value (a repo secret, or `codehub-build build --secret`). */
export const MAX_SECRET_BYTES = 64 * 1024;
/** A BuildKit secret id and a config `secrets:` entry: letters, digits and _, not starting with a digit. */
export const SECRET_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
/** A platform as BuildKit takes it: os/arch or os/arch/variant (`linux/amd64`, `linux/arm/v7`). */
export const PLATFORM_RE = /^[a-z0-9]+\/[a-z0-9_]+(?:\/[a-z0-9]+)?$/;

/** Bounds of the control plane's local API that both ends know. */

/** The longest rollout wait one request may ask for (a waiting request holds a connection meanwhile). */
export const MAX_ROLLOUT_WAIT_MS = 300_000;

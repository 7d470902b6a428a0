/**
 * How the page marks an edge whose traffic is all mutual TLS: a text lock that every font draws (headless
 * browsers often have no emoji font), shared with the browser tests.
 */
export const MTLS_MARK = '[mTLS]';

/**
 * A CONNECT stream as the rest of the mesh sees it, whichever implementation carries it (Node's
 * `Http2Stream` or the framer's `H2Stream`): a Duplex that ends with a FIN (`end()`) or is reset with an
 * HTTP/2 error code (`close(code)`, `rstCode`), which is all the splice needs to pass FINs and resets on.
 */
import type { Duplex } from 'node:stream';

export type HboneStream = Duplex & {
  readonly rstCode?: number | undefined;
  close(code?: number): void;
};

/** The server's side of a CONNECT: it answers with a status before the tunnel carries bytes. */
export type HboneServerStream = HboneStream & {
  readonly headersSent: boolean;
  respond(headers: Record<string, string | number>, options?: { endStream?: boolean }): void;
};

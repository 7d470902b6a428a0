/**
 * The stand-ins for well-known container images: a container that names one of these images and gives no
 * `command` runs `ambit app <app>` instead (there are no images in the local cluster). Images are matched by
 * their repository's last path element, ignoring registry, owner, tag and digest, so that
 * `docker.io/mccutchen/go-httpbin:v2.15.0` and `registry.istio.io/release/examples-bookinfo-details-v1:1.20.3`
 * are found whatever registry they were pulled from.
 */

export interface StandIn {
  /** The `ambit app` name. */
  app: string;
  /** What the image's ENTRYPOINT would be: `ambit app <app> [fixed options]`. */
  entrypoint: string[];
  /** What the image's CMD would be: replaced by the container's `args`, as in Kubernetes. */
  defaultArgs: string[];
}

const standIn = (app: string, options: string[] = [], defaultArgs: string[] = []): StandIn => ({
  app,
  entrypoint: ['ambit', 'app', app, ...options],
  defaultArgs,
});

const BOOKINFO_PORT = '9080';

/** Image repository name -> stand-in. */
const IMAGES: ReadonlyMap<string, StandIn> = new Map([
  ['curl', standIn('sleep')],
  ['sleep', standIn('sleep')],
  ['httpbin', standIn('httpbin', ['--port', '80'])],
  ['go-httpbin', standIn('httpbin', ['--port', '8080'])],
  ['examples-helloworld-v1', standIn('helloworld', ['--version', 'v1', '--port', '5000'])],
  ['examples-helloworld-v2', standIn('helloworld', ['--version', 'v2', '--port', '5000'])],
  ['tcp-echo-server', standIn('tcp-echo', [], ['9000', 'hello'])],
  ['examples-bookinfo-productpage-v1', standIn('bookinfo-productpage', ['--port', BOOKINFO_PORT])],
  ['examples-bookinfo-details-v1', standIn('bookinfo-details', ['--port', BOOKINFO_PORT])],
  ['examples-bookinfo-ratings-v1', standIn('bookinfo-ratings', ['--port', BOOKINFO_PORT])],
  ...(['v1', 'v2', 'v3'] as const).map((version): [string, StandIn] => [
    `examples-bookinfo-reviews-${version}`,
    standIn('bookinfo-reviews', ['--version', version, '--port', BOOKINFO_PORT]),
  ]),
]);

/** The repository name of an image reference: `reg:5000/owner/name:tag@sha256:...` -> `name`. */
export function imageRepositoryName(image: string): string {
  const withoutDigest = image.split('@')[0]!;
  const last = withoutDigest.split('/').pop()!;
  return last.split(':')[0]!.toLowerCase();
}

export function standInFor(image: string): StandIn | undefined {
  return IMAGES.get(imageRepositoryName(image));
}

/** The repository names that have stand-ins, for messages. */
export function standInImages(): string[] {
  return [...IMAGES.keys()];
}

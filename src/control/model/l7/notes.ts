/**
 * What the route compiler could not carry over as written (a missing delegate, an unsupported policy
 * action, an attribute a waypoint cannot know), with the config object and field it concerns, so that
 * `ambit analyze` and the control plane's log can tell the user.
 */
export interface CompileNote {
  /** The config object: `VirtualService`, `HTTPRoute`, `GRPCRoute` or `AuthorizationPolicy`, and its name. */
  kind: string;
  namespace: string;
  name: string;
  /** The field path inside the object (`spec.http[0].delegate`). */
  path: string;
  message: string;
}

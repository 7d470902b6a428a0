/**
 * Kubernetes' `$(VAR)` references in a container's command, args and env values: `$(NAME)` becomes the
 * value of NAME when it is defined and stays as written when not; `$$` escapes a `$`.
 */
export function expandVars(text: string, env: Readonly<Record<string, string>>): string {
  return text.replace(/\$\$|\$\(([-._a-zA-Z][-._a-zA-Z0-9]*)\)/g, (match, name: string | undefined) => {
    if (name === undefined) return '$';
    return Object.hasOwn(env, name) ? env[name]! : match;
  });
}

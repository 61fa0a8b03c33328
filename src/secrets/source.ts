/** Where a build's secret values come from; undefined means the repo has no such secret. */
export interface SecretSource {
  get(repo: string, name: string): string | undefined;
}
export const noSecrets: SecretSource = { get: () => undefined };

/**
 * The secret values an upload's build was sent (`codehub-build build --secret`, and `--build-arg`s with
 * secret-looking names), held in this process's memory from the build request until the build ends: never
 * written to the database, the log or a file. A server restart in between loses them, and the build then
 * fails saying to run it again.
 */
export class HeldSecrets {
  private values = new Map<number, { secrets: Record<string, string>; args: Record<string, string> }>();

  hold(buildId: number, secrets: Record<string, string>, args: Record<string, string> = {}): void {
    if (Object.keys(secrets).length || Object.keys(args).length) this.values.set(buildId, { secrets: { ...secrets }, args: { ...args } });
  }

  /** The build's secrets, or undefined if none are held (none sent, or the server restarted since). */
  get(buildId: number): Record<string, string> | undefined {
    return this.values.get(buildId)?.secrets;
  }

  /** The values of the build's secret-looking build args, or undefined if none are held. */
  args(buildId: number): Record<string, string> | undefined {
    return this.values.get(buildId)?.args;
  }

  drop(buildId: number): void {
    this.values.delete(buildId);
  }
}

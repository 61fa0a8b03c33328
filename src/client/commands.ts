import { auditCmd } from './audit.js';
import { buildCmd } from './build.js';
import { buildActionCmd, buildsCmd, logsCmd, statusCmd } from './builds.js';
import { explainCmd } from './explain.js';
import { imageCmd, usageCmd } from './registry.js';
import { credentialCmd, remoteCmd } from './remote.js';
import { repoCmd, secretCmd } from './repos.js';
import { sbomCmd, vulnsCmd } from './scans.js';

/** The client commands' help: the downloadable CLI prints it alone, the server's CLI after its own commands. */
export const CLIENT_USAGE = `client (talks to CODEHUB_URL with CODEHUB_TOKEN; what a workspace is given):
  remote add [NAME] [owner/repo]
                              in a git checkout: add the build remote (NAME build, owner your user, repo the
                              folder's name) with \`codehub-build credential\` as git's helper for it, so
                              \`git push build main\` takes the token from CODEHUB_TOKEN and none is written to disk
  credential get|store|erase  git's credential helper protocol (git runs it; remote add sets it up)
  build [PATH] [-f FILE] [-t NAME[:TAG]] [--target T] [--build-arg K[=V]]... [--secret id=ID[,src=FILE|,env=VAR]]...
        [--no-cache] [--platform P[,P]]
                              docker build of the folder PATH (default .) without a commit: uploads what the
                              server lacks (.dockerignore applied), builds it as you, streams the log and prints
                              <registry>/<you>/NAME:TAG@digest (NAME the folder's name, TAG dev). -f is relative
                              to the current folder and must be inside PATH; Ctrl-C cancels the build
  builds [--repo owner/name] [--commit sha-prefix] [--ref ref] [--status s] [--limit n] [--json]
  logs <commit|build-id> [--follow] [--timestamps]
                              print the log of that commit's builds; a commit is a sha prefix (4+ hex digits) or,
                              inside a git checkout, any revision (HEAD, main~2, a tag); #N or a number of at most
                              6 digits is a build id. --follow streams until the builds end
  status [<revision>]         the builds of HEAD (or that revision) of the checkout you are in
  cancel <build-id>           stop a queued or running build
  rebuild <build-id>          build the same commit with the same resolved config again
  vulns <commit|build-id> [--json]
                              the vulnerabilities found in the builds' images, worst first, judged by each
                              build's scan policy; exit 1 when one blocks
  sbom <commit|build-id> [--format cyclonedx|spdx] [--platform P]
                              the image's software bill of materials (CycloneDX 1.6 or SPDX 2.3 JSON) on stdout;
                              a multi-platform image's for P (default linux/amd64, else its first platform)
  explain <commit|build-id> [--json]
                              why the builds missed the cache (the first step that ran and the changed files,
                              build args or base that made it run), their steps as a timeline, their layers and
                              the image's size against the previous build; exit 4 when a build has none yet
  secret set <owner/repo> <NAME>
                              set a build secret from stdin (one trailing newline is dropped); builds get it
                              only through RUN --mount=type=secret,id=NAME, and logs show it as ***
  secret list <owner/repo>    the repo's secret names (values are never shown)
  secret remove <owner/repo> <NAME>
  repo share <owner/repo> <user> --role read|write
                              read: clone, builds, logs; write: also push, cancel, rebuild (the owner only)
  repo unshare <owner/repo> <user>
  repo members <owner/repo>
  repo badge <owner/repo> public|private
                              public: the repo's status badges answer without a token (builds and logs stay private)
  repo retention <owner/repo> [--keep N] [--days D] [--default]
                              show or set how many builds per branch keep their tags and for how many days (the owner)
  repo upstream <owner/repo> [--url URL --forge github|gitea|gitlab [--api-url URL]] [--remove]
                              show, set or remove the repo's link to a forge: its push webhook builds here, results go
                              back as commit statuses; secrets from CODEHUB_WEBHOOK_SECRET (else made and printed once)
                              and CODEHUB_STATUS_TOKEN (the owner)
  repo pull-token create <owner/repo> [--label L] [--expires 90d|12h|30m|10s] [--json]
                              a deployment's registry credential: user pull-<id> and a chp_ token (shown once) that
                              pull the repo's images and do nothing else; at most CODEHUB_TOKEN_MAX_DAYS (the owner)
  repo pull-token list <owner/repo> [--json]
  repo pull-token revoke <owner/repo> <id>
  repo pull-secret <owner/repo> [--name N] [--namespace NS] [--label L] [--expires D] [--json]
                              make a pull token and print it as a Kubernetes Secret (kubernetes.io/dockerconfigjson,
                              YAML or JSON) for imagePullSecrets; its name defaults to <repo>-pull
  usage [owner] [--json]      registry bytes of your images (or owner's), per image, against the quota
  image rm <owner/image:tag>  remove one tag of your image (a docker push's too), its manifest when nothing else needs it
  audit [--actor A] [--action X] [--repo owner/name] [--since T] [--limit N] [--before ID] [--json]
                              the audit log, newest first: an admin's token sees every event, anyone else's the events
                              of their own repos (secret values and tokens are never in it)
  version                     this CLI's version
`;

export type Command = (args: string[]) => Promise<number> | number;

/** The client command named `cmd`, or undefined. Both CLIs dispatch through this one table. */
export function clientCommand(cmd: string): Command | undefined {
  const table: Record<string, Command> = {
    remote: remoteCmd,
    credential: credentialCmd,
    build: buildCmd,
    builds: buildsCmd,
    logs: logsCmd,
    status: statusCmd,
    cancel: (args) => buildActionCmd('cancel', args),
    rebuild: (args) => buildActionCmd('rebuild', args),
    vulns: vulnsCmd,
    sbom: sbomCmd,
    explain: explainCmd,
    secret: secretCmd,
    repo: repoCmd,
    usage: usageCmd,
    image: imageCmd,
    audit: auditCmd,
  };
  return Object.hasOwn(table, cmd) ? table[cmd] : undefined;
}

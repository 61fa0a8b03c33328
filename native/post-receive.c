/*
 * The native post-receive hook: the same protocol as src/git/hook-main.ts, without Node's ~120 ms start-up
 * on every push (this program starts in about a millisecond).
 *
 * git runs it after a push has updated the refs, with one "<old> <new> <ref>" line per ref on stdin. It POSTs
 * them as JSON to $CODEHUB_HOOK_URL, signed with HMAC-SHA256 of the raw body under the key in
 * $CODEHUB_HOOK_KEY_FILE (header X-Codehub-Signature-256: sha256=<hex>), and copies the server's answer to
 * stdout as it arrives, which git shows the pusher as "remote:" lines. It always exits 0: a post-receive hook
 * cannot undo the push, and a failure of its own would only add a confusing error to the pusher's screen.
 *
 * Self-contained (SHA-256 included) so that it builds with any C compiler and no library headers.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_BODY (1024 * 1024) /* the server's limit for a hook call */

static void vsay(const char *fmt, va_list ap) {
  fputs("codehub-build: ", stdout);
  vprintf(fmt, ap);
  fputs("\n", stdout);
  fflush(stdout);
}

static void say(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsay(fmt, ap);
  va_end(ap);
}

/* Every failure ends here: the push has landed either way, so the pusher is told what did not happen. */
static void give_up(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsay(fmt, ap);
  va_end(ap);
  exit(0);
}

/* ---- SHA-256 (FIPS 180-4) and HMAC (RFC 2104) ---- */

typedef struct { uint32_t h[8]; uint64_t len; unsigned char buf[64]; size_t n; } sha256;

static const uint32_t K[64] = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(sha256 *s, const unsigned char *p) {
  uint32_t w[64], a, b, c, d, e, f, g, h;
  for (int i = 0; i < 16; i++) w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
  for (int i = 16; i < 64; i++) {
    uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  a = s->h[0]; b = s->h[1]; c = s->h[2]; d = s->h[3]; e = s->h[4]; f = s->h[5]; g = s->h[6]; h = s->h[7];
  for (int i = 0; i < 64; i++) {
    uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
    uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
  }
  s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d; s->h[4] += e; s->h[5] += f; s->h[6] += g; s->h[7] += h;
}

static void sha256_init(sha256 *s) {
  static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
  memcpy(s->h, iv, sizeof iv);
  s->len = 0;
  s->n = 0;
}

static void sha256_update(sha256 *s, const void *data, size_t len) {
  const unsigned char *p = data;
  s->len += len;
  while (len > 0) {
    size_t take = 64 - s->n < len ? 64 - s->n : len;
    memcpy(s->buf + s->n, p, take);
    s->n += take; p += take; len -= take;
    if (s->n == 64) { sha256_block(s, s->buf); s->n = 0; }
  }
}

static void sha256_final(sha256 *s, unsigned char out[32]) {
  uint64_t bits = s->len * 8;
  unsigned char pad = 0x80, zero = 0, lenbe[8];
  sha256_update(s, &pad, 1);
  while (s->n != 56) sha256_update(s, &zero, 1);
  for (int i = 0; i < 8; i++) lenbe[i] = (unsigned char)(bits >> (56 - 8 * i));
  sha256_update(s, lenbe, 8);
  for (int i = 0; i < 8; i++) { out[4 * i] = s->h[i] >> 24; out[4 * i + 1] = s->h[i] >> 16; out[4 * i + 2] = s->h[i] >> 8; out[4 * i + 3] = s->h[i]; }
}

static void hmac_sha256(const unsigned char *key, size_t keylen, const char *msg, size_t len, unsigned char out[32]) {
  unsigned char k[64] = { 0 }, ipad[64], opad[64], inner[32];
  sha256 s;
  if (keylen > 64) { sha256_init(&s); sha256_update(&s, key, keylen); sha256_final(&s, k); }
  else memcpy(k, key, keylen);
  for (int i = 0; i < 64; i++) { ipad[i] = k[i] ^ 0x36; opad[i] = k[i] ^ 0x5c; }
  sha256_init(&s); sha256_update(&s, ipad, 64); sha256_update(&s, msg, len); sha256_final(&s, inner);
  sha256_init(&s); sha256_update(&s, opad, 64); sha256_update(&s, inner, 32); sha256_final(&s, out);
}

/* ---- a growable buffer for the body ---- */

typedef struct { char *p; size_t n, cap; } buf;

static void put(buf *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    while (b->n + n + 1 > b->cap) b->cap = b->cap ? b->cap * 2 : 4096;
    if (b->cap > 4 * MAX_BODY || !(b->p = realloc(b->p, b->cap))) give_up("the push is too large to report (over %d bytes); no build was queued", MAX_BODY);
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = 0;
}
static void puts_(buf *b, const char *s) { put(b, s, strlen(s)); }

/* A JSON string; bytes from 0x80 up pass through, so UTF-8 names stay UTF-8. */
static void put_json(buf *b, const char *s, size_t n) {
  put(b, "\"", 1);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    char esc[8];
    if (c == '"' || c == '\\') { esc[0] = '\\'; esc[1] = (char)c; put(b, esc, 2); }
    else if (c < 0x20) { snprintf(esc, sizeof esc, "\\u%04x", c); put(b, esc, 6); }
    else put(b, (const char *)&c, 1);
  }
  put(b, "\"", 1);
}

/* ---- the report ---- */

static buf read_stdin(void) {
  buf in = { 0 };
  char chunk[65536];
  ssize_t r;
  while ((r = read(0, chunk, sizeof chunk)) != 0) {
    if (r < 0) { if (errno == EINTR) continue; give_up("could not read the ref updates from git (%s); no build was queued", strerror(errno)); }
    put(&in, chunk, (size_t)r);
    if (in.n > MAX_BODY) give_up("the push updated too many refs to report (over %d bytes); no build was queued", MAX_BODY);
  }
  if (!in.p) put(&in, "", 0);
  return in;
}

static buf make_body(const char *repo, const char *pusher, buf *in) {
  buf b = { 0 };
  puts_(&b, "{\"repo\":"); put_json(&b, repo, strlen(repo));
  puts_(&b, ",\"pusher\":"); put_json(&b, pusher, strlen(pusher));
  puts_(&b, ",\"updates\":[");
  int first = 1;
  for (char *line = in->p, *end; line < in->p + in->n; line = end + 1) {
    end = memchr(line, '\n', (size_t)(in->p + in->n - line));
    if (!end) end = in->p + in->n;
    char *sp1 = memchr(line, ' ', (size_t)(end - line));
    char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1)) : NULL;
    if (!sp2) continue; /* not an update line */
    if (!first) puts_(&b, ",");
    first = 0;
    puts_(&b, "{\"old\":"); put_json(&b, line, (size_t)(sp1 - line));
    puts_(&b, ",\"new\":"); put_json(&b, sp1 + 1, (size_t)(sp2 - sp1 - 1));
    puts_(&b, ",\"ref\":"); put_json(&b, sp2 + 1, (size_t)(end - sp2 - 1));
    puts_(&b, "}");
  }
  puts_(&b, "],\"options\":[");
  const char *count = getenv("GIT_PUSH_OPTION_COUNT");
  int n = count ? atoi(count) : 0;
  for (int i = 0; i < n; i++) {
    char name[40];
    snprintf(name, sizeof name, "GIT_PUSH_OPTION_%d", i);
    const char *v = getenv(name);
    if (i) puts_(&b, ",");
    put_json(&b, v ? v : "", v ? strlen(v) : 0);
  }
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char when[64];
  snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
           tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
  puts_(&b, "],\"sentAt\":"); put_json(&b, when, strlen(when));
  puts_(&b, "}");
  return b;
}

static size_t read_key(const char *file, unsigned char *key, size_t cap) {
  FILE *f = fopen(file, "r");
  if (!f) give_up("cannot read the hook key %s (%s); no build was queued", file, strerror(errno));
  char hex[512];
  size_t n = fread(hex, 1, sizeof hex - 1, f);
  fclose(f);
  hex[n] = 0;
  size_t len = 0;
  for (size_t i = 0; i + 1 < n && len < cap; i += 2) {
    unsigned int byte;
    if (sscanf(hex + i, "%2x", &byte) != 1) break;
    key[len++] = (unsigned char)byte;
  }
  if (len == 0) give_up("the hook key %s is empty or not hex; no build was queued", file);
  return len;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) { if (errno == EINTR) continue; return -1; }
    p += w; n -= (size_t)w;
  }
  return 0;
}

int main(void) {
  const char *url = getenv("CODEHUB_HOOK_URL"), *key_file = getenv("CODEHUB_HOOK_KEY_FILE");
  const char *repo = getenv("CODEHUB_REPO"), *pusher = getenv("CODEHUB_PUSHER");
  if (!url || !key_file || !repo || !pusher) give_up("the hook was run outside codehub-build (CODEHUB_HOOK_URL is missing); no build was queued");

  /* http://host:port/path; the server always hands the hook a plain loopback URL */
  char host[256], port[16] = "80";
  const char *path;
  if (strncmp(url, "http://", 7) != 0) give_up("CODEHUB_HOOK_URL %s is not an http:// URL; no build was queued", url);
  const char *h = url + 7, *slash = strchr(h, '/'), *colon = strchr(h, ':');
  path = slash ? slash : "/";
  size_t hostlen = (colon && (!slash || colon < slash) ? colon : slash ? slash : h + strlen(h)) - h;
  if (hostlen == 0 || hostlen >= sizeof host) give_up("CODEHUB_HOOK_URL %s has no usable host; no build was queued", url);
  memcpy(host, h, hostlen);
  host[hostlen] = 0;
  if (colon && (!slash || colon < slash)) {
    size_t plen = (size_t)((slash ? slash : h + strlen(h)) - colon - 1);
    if (plen == 0 || plen >= sizeof port) give_up("CODEHUB_HOOK_URL %s has a bad port; no build was queued", url);
    memcpy(port, colon + 1, plen);
    port[plen] = 0;
  }

  buf in = read_stdin();
  buf body = make_body(repo, pusher, &in);
  unsigned char key[256], mac[32];
  size_t keylen = read_key(key_file, key, sizeof key);
  hmac_sha256(key, keylen, body.p, body.n, mac);
  memset(key, 0, sizeof key);
  char sig[65];
  for (int i = 0; i < 32; i++) snprintf(sig + 2 * i, 3, "%02x", mac[i]);

  struct addrinfo hints = { 0 }, *ai;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int gai = getaddrinfo(host, port, &hints, &ai);
  if (gai) give_up("could not reach the build server at %s (%s); the push landed but no build was queued", url, gai_strerror(gai));
  int fd = -1, err = 0;
  for (struct addrinfo *a = ai; a; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
    err = errno;
    if (fd >= 0) close(fd);
    fd = -1;
  }
  freeaddrinfo(ai);
  if (fd < 0) give_up("could not reach the build server at %s (%s); the push landed but no build was queued", url, strerror(err));

  /* HTTP/1.0: the answer comes unchunked and ends when the server closes, so it can be copied as it is. */
  buf req = { 0 };
  char head[1024];
  snprintf(head, sizeof head,
           "POST %s HTTP/1.0\r\nHost: %s:%s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
           "X-Codehub-Signature-256: sha256=%s\r\n\r\n", path, host, port, body.n, sig);
  puts_(&req, head);
  put(&req, body.p, body.n);
  signal(SIGPIPE, SIG_IGN);
  if (write_all(fd, req.p, req.n) < 0) give_up("could not send the push to %s (%s); no build was queued", url, strerror(errno));

  /* Status line and headers, then the body straight through to git. */
  char rbuf[65536];
  size_t have = 0;
  int status = 0;
  char *body_start = NULL;
  while (!body_start) {
    ssize_t r = read(fd, rbuf + have, sizeof rbuf - 1 - have);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) give_up("the build server at %s closed the connection without an answer; the push landed but its builds may not have been queued", url);
    have += (size_t)r;
    rbuf[have] = 0;
    char *end = strstr(rbuf, "\r\n\r\n");
    if (end) body_start = end + 4;
    else if (have >= sizeof rbuf - 1) give_up("the build server at %s sent an answer this hook cannot read", url);
  }
  if (sscanf(rbuf, "HTTP/%*d.%*d %d", &status) != 1) status = 0;
  if (write_all(1, body_start, have - (size_t)(body_start - rbuf)) < 0) return 0; /* the pusher left */
  for (;;) {
    ssize_t r = read(fd, rbuf, sizeof rbuf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    if (write_all(1, rbuf, (size_t)r) < 0) return 0;
  }
  if (status < 200 || status >= 300) say("the server answered %d; the push landed but its builds may not have been queued", status);
  return 0;
}

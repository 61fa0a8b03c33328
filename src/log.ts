/** Structured logs for operators: one JSON object per line on stderr. */
export type Fields = Record<string, unknown>;
export type Level = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  child(fields: Fields): Logger;
}

const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function createLogger(opts: { level?: Level; write?: (line: string) => void; base?: Fields } = {}): Logger {
  const min = ORDER[opts.level ?? ((process.env.CODEHUB_LOG_LEVEL as Level) || 'info')] ?? ORDER.info;
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const base = opts.base ?? {};
  const emit =
    (level: Level) =>
    (msg: string, fields: Fields = {}) => {
      if (ORDER[level] < min) return;
      const rec: Fields = { time: new Date().toISOString(), level, msg, ...base, ...fields };
      if (rec.err instanceof Error) rec.err = { name: rec.err.name, message: rec.err.message, stack: rec.err.stack };
      write(JSON.stringify(rec));
    };
  return {
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    child: (fields) => createLogger({ ...opts, base: { ...base, ...fields } }),
  };
}

/** A logger that drops everything, for unit tests. */
export const silentLogger: Logger = createLogger({ write: () => {} });

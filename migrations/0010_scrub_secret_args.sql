-- Build args with secret-looking names (src/logs/mask.ts SECRET_NAME; PASS covers PASSWD and PASSWORD)
-- were stored in clear in builds.config before this migration: replace each non-empty value by '***', as every new
-- row is stored. The runner gets such values back from the commit's codehub-build.yaml (a push); an upload's
-- were held in memory only. openDb checkpoints and truncates the WAL after migrating, with secure_delete on,
-- so the old values do not stay in the WAL or in freed pages.
UPDATE builds SET config = json_set(config, '$.args', json((
  SELECT json_group_object(j.key, CASE WHEN j.value <> '' AND (instr(upper(j.key), 'TOKEN') > 0 OR instr(upper(j.key), 'SECRET') > 0 OR instr(upper(j.key), 'PASS') > 0 OR instr(upper(j.key), 'APIKEY') > 0 OR instr(upper(j.key), 'API_KEY') > 0 OR instr(upper(j.key), 'PRIVATEKEY') > 0 OR instr(upper(j.key), 'PRIVATE_KEY') > 0 OR instr(upper(j.key), 'ACCESSKEY') > 0 OR instr(upper(j.key), 'ACCESS_KEY') > 0 OR instr(upper(j.key), 'CREDENTIAL') > 0 OR instr(upper(j.key), 'AUTH') > 0) THEN '***' ELSE j.value END)
  FROM json_each(builds.config, '$.args') AS j
)))
WHERE config IS NOT NULL AND json_type(config, '$.args') = 'object' AND EXISTS (
  SELECT 1 FROM json_each(builds.config, '$.args') AS j
  WHERE j.value <> '' AND j.value <> '***' AND (instr(upper(j.key), 'TOKEN') > 0 OR instr(upper(j.key), 'SECRET') > 0 OR instr(upper(j.key), 'PASS') > 0 OR instr(upper(j.key), 'APIKEY') > 0 OR instr(upper(j.key), 'API_KEY') > 0 OR instr(upper(j.key), 'PRIVATEKEY') > 0 OR instr(upper(j.key), 'PRIVATE_KEY') > 0 OR instr(upper(j.key), 'ACCESSKEY') > 0 OR instr(upper(j.key), 'ACCESS_KEY') > 0 OR instr(upper(j.key), 'CREDENTIAL') > 0 OR instr(upper(j.key), 'AUTH') > 0)
);

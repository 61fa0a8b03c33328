import { describe, expect, it } from 'vitest';
import { memoryApp } from '../helpers/memory-app.js';

describe('the vulnerabilities page', () => {
  it('sends an anonymous browser to sign in; before any import it says so and how to import', async () => {
    const m = memoryApp();
    const alice = m.addUser('alice');
    const anon = await m.app.request('/vulnerabilities');
    expect(anon.status).toBe(303);
    expect(anon.headers.get('location')).toBe('/login?next=%2Fvulnerabilities');
    const res = await m.app.request('/vulnerabilities', { headers: { cookie: `codehub_token=${alice}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await res.text();
    expect(html).toContain('<p id="vulndb-empty" class="error">No vulnerability data has been imported');
    expect(html).toContain('<code>codehub-build vulndb import &lt;file|folder&gt;</code>');
    expect(html).toContain('<p id="new-none">Nothing new.</p>');
  });
});

// HTML bodies that real deployments send instead of Crowd entities: Tomcat's error report
// (remote-address refusal, unknown context paths), a WAF's 403, a reverse proxy's 5xx and an
// SSO login page answered with 200. Clients must recognise them rather than parse them.
import { esc } from './xml.js';

const TOMCAT = 'Apache Tomcat/9.0.75';

const REASONS: Record<number, [string, string]> = {
  403: ['Forbidden', 'The server understood the request but refuses to authorize it.'],
  404: ['Not Found', 'The origin server did not find a current representation for the target resource or is not willing to disclose that one exists.'],
  500: ['Internal Server Error', 'The server encountered an unexpected condition that prevented it from fulfilling the request.'],
};

/** Tomcat 9's ErrorReportValve page, as sent by `response.sendError(status, message)`. */
export function tomcatErrorPage(status: number, message: string): string {
  const [title, description] = REASONS[status] ?? ['Error', ''];
  return (
    `<!doctype html><html lang="en"><head><title>HTTP Status ${status} – ${title}</title>` +
    '<style type="text/css">body {font-family:Tahoma,Arial,sans-serif;} h1 {font-size:22px;} .line {height:1px;background-color:#525D76;border:none;}</style>' +
    `</head><body><h1>HTTP Status ${status} – ${title}</h1><hr class="line" />` +
    `<p><b>Type</b> Status Report</p><p><b>Message</b> ${esc(message)}</p>` +
    `<p><b>Description</b> ${description}</p><hr class="line" /><h3>${TOMCAT}</h3></body></html>`
  );
}

export const remoteAddressForbiddenPage = (address: string, application: string): string =>
  tomcatErrorPage(403, `Client with address "${address}" is forbidden from making requests to the application, ${application}.`);

export const WAF_403_PAGE =
  '<html>\r\n<head><title>403 Forbidden</title></head>\r\n<body>\r\n<center><h1>403 Forbidden</h1></center>\r\n' +
  '<hr><center>Request blocked by web application firewall. Reference #18.6f2d3e17.1700000000.4a1b2c</center>\r\n</body>\r\n</html>\r\n';

const PROXY_TITLES: Record<number, string> = { 502: 'Bad Gateway', 503: 'Service Temporarily Unavailable', 504: 'Gateway Time-out' };

export function proxyErrorPage(status: number): string {
  const title = `${status} ${PROXY_TITLES[status] ?? 'Error'}`;
  return `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`;
}

export const SSO_LOGIN_PAGE =
  '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Sign in</title></head><body>' +
  '<form method="post" action="/login"><h1>Sign in to continue</h1>' +
  '<input name="username"><input name="password" type="password"><button>Sign in</button></form></body></html>';

import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { isoTime } from '../../clock.js';
import { changePassword, issueResetToken, resetPassword } from '../../core/password-changes.js';
import { Email, Password, Timestamp, Token } from '../../schemas.js';
import { registerAction } from '../action.js';
import { auditContext } from './sessions.js';

const body = <T extends Parameters<typeof Type.Object>[0]>(props: T) => Type.Object(props, { additionalProperties: false });

/** The request and answer schemas of the password actions (also the SDK's types: src/client/types.ts). */
export const passwordSchemas = {
  user_changepass: {
    body: body({ session_token: Token, current_password: Password, new_password: Password }),
    response: Type.Object({ user_id: Type.Integer() }),
  },
  user_resetpass_token: {
    body: body({ email: Email }),
    response: Type.Object({ reset_token: Type.String(), expires_at: Timestamp }),
  },
  user_resetpass: {
    body: body({ reset_token: Token, new_password: Password }),
    response: Type.Object({ user_id: Type.Integer() }),
  },
};

/** Password changes and resets (SPEC §3): each revokes the user's other sessions and all API keys. */
export default async function passwordActions(app: FastifyInstance): Promise<void> {
  const now = () => app.clock.now();

  registerAction(app, {
    name: 'user_changepass',
    summary: "Change the session user's password; other sessions and all API keys are revoked",
    body: passwordSchemas.user_changepass.body,
    response: passwordSchemas.user_changepass.response,
    handler: async (req) => {
      const b = req.body;
      const userId = await changePassword(app.store, app.logins, now, {
        sessionToken: b.session_token, currentPassword: b.current_password, newPassword: b.new_password,
      }, auditContext(req));
      return { user_id: userId };
    },
  });

  registerAction(app, {
    name: 'user_resetpass_token',
    summary: 'A password reset token for the frontend to mail (unknown emails answer the same shape)',
    body: passwordSchemas.user_resetpass_token.body,
    response: passwordSchemas.user_resetpass_token.response,
    handler: async (req) => {
      const { token, expiresAt } = await issueResetToken(app.store, now(), req.body.email);
      return { reset_token: token, expires_at: isoTime(expiresAt) };
    },
  });

  registerAction(app, {
    name: 'user_resetpass',
    summary: 'Set a new password with a reset token; all sessions and API keys are revoked',
    body: passwordSchemas.user_resetpass.body,
    response: passwordSchemas.user_resetpass.response,
    handler: async (req) => ({
      user_id: await resetPassword(app.store, now, { resetToken: req.body.reset_token, newPassword: req.body.new_password }, auditContext(req)),
    }),
  });
}

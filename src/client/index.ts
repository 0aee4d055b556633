export { createClient, AuthnzdError, actionNames, type AuthnzdClient, type ClientOptions, type CallOptions, type ActionName, type Json } from './sdk.js';
export { authnzdApiKeys, extractApiKey, type ApiKeyPluginOptions, type VerifiedKey } from './fastify.js';
export type { ActionAnswer, ActionBody } from './types.js';

/**
 * The settings of Fastify's router (find-my-way) that Berth changes, shared by Fastify itself
 * (app.ts) and the management API's own router (api/api-router.ts), so both match paths alike.
 * Parameters up to 1,024 characters: repository names and references run long (Fastify's default is 100).
 */
export const routerOptions = { maxParamLength: 1024 } as const;

// `@nats-io/nats-core` (NATS over WebSocket) for extension modules.
export * from "@nats-io/nats-core";

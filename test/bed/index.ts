// The test bed every e2e and kernel test uses (ARCHITECTURE.md, "The test bed"). Import from here.

export * from './exec.js';
export * from './owner.js';
export * from './image.js';
export * from './docker.js';
export * from './netns.js';
export * from './cleanup.js';
export * from './daemon.js';
export * from './engine.js';
export * from './prefix.js';
export * from './vpn.js';
export * from './twine-image.js';
export * from './compose.js';
export * from './second-engine.js';
export * from './swarm.js';
export * from './swarm-gateway.js';
export * from './setup.js';
export * from './tunnel.js';
export * from './lan.js';
export * from './forward.js';

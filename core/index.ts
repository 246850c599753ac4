// The pure domain shared by the plugin, the panel and the proxy. No I/O here.
export * from './api';
export * from './formats';
export * from './image-header';
export * from './limits';
export * from './messages';
export * from './models';
export * from './pick';
export * from './pricing';
export * from './validate';

//! The WebSocket API of the simulator (`/ws-api/v3`): being built.

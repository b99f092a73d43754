//! The market-data WebSocket of the simulator (`/ws/<stream>`, `/stream?streams=`): being built.

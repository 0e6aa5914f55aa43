//! Finds the highest-priority rule matching a flow and reports which bits it looked at.

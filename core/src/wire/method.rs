//! MAD methods (the Method byte, response bit included) and management classes.

open_enum! {
    /// The Method byte of the MAD common header, with its response bit (0x80).
    ///
    /// Only the SA's methods (IBA 15.2.2) and the generic ones are named; others are kept raw.
    pub enum Method(u8) {
        /// Read one attribute.
        Get = 0x01 => "Get",
        /// Write one attribute (InformInfo subscriptions).
        Set = 0x02 => "Set",
        /// Generic Send.
        Send = 0x03 => "Send",
        /// Unsolicited trap from a port to the SM.
        Trap = 0x05 => "Trap",
        /// The SA forwarding a Notice to a subscriber.
        Report = 0x06 => "Report",
        /// Trap repress.
        TrapRepress = 0x07 => "TrapRepress",
        /// Read every record matching a template.
        GetTable = 0x12 => "GetTable",
        /// Trace a path.
        GetTraceTable = 0x13 => "GetTraceTable",
        /// Multi-path query (MultiPathRecord).
        GetMulti = 0x14 => "GetMulti",
        /// Delete a record.
        Delete = 0x15 => "Delete",
        /// Answer to Get or Set.
        GetResp = 0x81 => "GetResp",
        /// Acknowledgement of a Report.
        ReportResp = 0x86 => "ReportResp",
        /// Answer to GetTable.
        GetTableResp = 0x92 => "GetTableResp",
        /// Answer to GetTraceTable.
        GetTraceTableResp = 0x93 => "GetTraceTableResp",
        /// Answer to GetMulti.
        GetMultiResp = 0x94 => "GetMultiResp",
        /// Answer to Delete.
        DeleteResp = 0x95 => "DeleteResp",
    }
}

/// The response bit of the Method byte.
pub const RESPONSE_BIT: u8 = 0x80;

impl Method {
    /// Whether the response bit is set.
    pub const fn is_response(self) -> bool {
        self.raw() & RESPONSE_BIT != 0
    }

    /// The same method with the response bit flipped.
    ///
    /// RMPP ACK, STOP and ABORT travel with the opposite direction bit to the DATA they answer
    /// (Linux `mad_rmpp.c` does this; ibsim routes on it).
    pub const fn flip_response(self) -> Method {
        Method::from_raw(self.raw() ^ RESPONSE_BIT)
    }

    /// Whether the SA answers this method with several records separated by AttributeOffset.
    pub const fn is_table_response(self) -> bool {
        matches!(self, Method::GetTableResp | Method::GetTraceTableResp | Method::GetMultiResp)
    }

    /// The response method the SA uses for this request method.
    pub const fn response(self) -> Method {
        match self {
            Method::Get | Method::Set => Method::GetResp,
            Method::Report => Method::ReportResp,
            other => Method::from_raw(other.raw() | RESPONSE_BIT),
        }
    }
}

open_enum! {
    /// Management classes (MgmtClass byte). localsa speaks SA; the others appear in captures.
    pub enum MgmtClass(u8) {
        /// LID-routed subnet management.
        SubnLidRouted = 0x01 => "SubnLidRouted",
        /// Subnet administration: the SA.
        SubnAdm = 0x03 => "SubnAdm",
        /// Performance management.
        Perf = 0x04 => "Perf",
        /// Communication management.
        Cm = 0x07 => "CM",
        /// Directed-route subnet management.
        SubnDirectedRoute = 0x81 => "SubnDirectedRoute",
    }
}

/// The SA class version this crate speaks.
pub const SA_CLASS_VERSION: u8 = 2;
/// The MAD base version this crate speaks.
pub const MAD_BASE_VERSION: u8 = 1;

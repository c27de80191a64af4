//! SA attribute identifiers (IBA 15.2.5, table 199).

open_enum! {
    /// The AttributeID of an SA MAD.
    pub enum AttributeId(u16) {
        /// ClassPortInfo.
        ClassPortInfo = 0x0001 => "ClassPortInfo",
        /// Notice (carried by Report).
        Notice = 0x0002 => "Notice",
        /// InformInfo (event subscription).
        InformInfo = 0x0003 => "InformInfo",
        /// NodeRecord.
        NodeRecord = 0x0011 => "NodeRecord",
        /// PortInfoRecord.
        PortInfoRecord = 0x0012 => "PortInfoRecord",
        /// SLtoVLMappingTableRecord.
        SlToVlMappingTableRecord = 0x0013 => "SLtoVLMappingTableRecord",
        /// SwitchInfoRecord.
        SwitchInfoRecord = 0x0014 => "SwitchInfoRecord",
        /// LinearForwardingTableRecord.
        LinearForwardingTableRecord = 0x0015 => "LinearForwardingTableRecord",
        /// RandomForwardingTableRecord.
        RandomForwardingTableRecord = 0x0016 => "RandomForwardingTableRecord",
        /// MulticastForwardingTableRecord.
        MulticastForwardingTableRecord = 0x0017 => "MulticastForwardingTableRecord",
        /// SMInfoRecord.
        SmInfoRecord = 0x0018 => "SMInfoRecord",
        /// LinkRecord.
        LinkRecord = 0x0020 => "LinkRecord",
        /// GuidInfoRecord.
        GuidInfoRecord = 0x0030 => "GuidInfoRecord",
        /// ServiceRecord.
        ServiceRecord = 0x0031 => "ServiceRecord",
        /// P_KeyTableRecord.
        PKeyTableRecord = 0x0033 => "P_KeyTableRecord",
        /// PathRecord.
        PathRecord = 0x0035 => "PathRecord",
        /// VLArbitrationTableRecord.
        VlArbitrationTableRecord = 0x0036 => "VLArbitrationTableRecord",
        /// MCMemberRecord.
        McMemberRecord = 0x0038 => "MCMemberRecord",
        /// TraceRecord.
        TraceRecord = 0x0039 => "TraceRecord",
        /// MultiPathRecord.
        MultiPathRecord = 0x003a => "MultiPathRecord",
        /// ServiceAssociationRecord.
        ServiceAssociationRecord = 0x003b => "ServiceAssociationRecord",
        /// InformInfoRecord.
        InformInfoRecord = 0x00f3 => "InformInfoRecord",
    }
}

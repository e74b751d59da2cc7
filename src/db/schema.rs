// @generated-style diesel schema; keep in step with migrations/ (diesel print-schema).

diesel::table! {
    clusters (id) {
        id -> Integer,
        cluster_uid -> Text,
        name -> Text,
        description -> Text,
        environment -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        last_seen_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    command_history (id) {
        id -> Integer,
        command_id -> Text,
        cluster_id -> Text,
        topic -> Text,
        source -> Text,
        user_id -> Nullable<Integer>,
        created_by -> Nullable<Text>,
        action -> Text,
        target_kind -> Text,
        target_namespace -> Text,
        target_name -> Text,
        params -> Text,
        status -> Text,
        result -> Nullable<Text>,
        success -> Nullable<Bool>,
        output -> Nullable<Text>,
        output_truncated -> Bool,
        error_message -> Nullable<Text>,
        executed_at -> Nullable<Text>,
        created_at -> Timestamp,
        started_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
        duration_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    users (id) {
        id -> Integer,
        username -> Text,
        password_hash -> Text,
        display_name -> Text,
        email -> Text,
        role -> Integer,
        status -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        last_login_at -> Nullable<Timestamp>,
        last_login_ip -> Nullable<Text>,
    }
}

diesel::table! {
    tokens (id) {
        id -> Integer,
        user_id -> Integer,
        token_hash -> Text,
        name -> Text,
        kind -> Integer,
        role -> Integer,
        expires_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    agent_tokens (cluster_uid) {
        cluster_uid -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    audit_logs (id) {
        id -> Integer,
        timestamp -> Timestamp,
        user_id -> Nullable<Integer>,
        username -> Text,
        role -> Nullable<Integer>,
        source -> Text,
        action -> Text,
        resource -> Text,
        method -> Text,
        request_body -> Nullable<Text>,
        status_code -> Integer,
        success -> Bool,
        error_message -> Nullable<Text>,
        ip -> Text,
        user_agent -> Text,
        duration_ms -> BigInt,
    }
}

diesel::table! {
    security_events (id) {
        id -> Integer,
        timestamp -> Timestamp,
        event_type -> Text,
        severity -> Text,
        ip -> Text,
        user_id -> Nullable<Integer>,
        token_id -> Nullable<Integer>,
        resource -> Text,
        details -> Text,
        resolved -> Bool,
        resolved_at -> Nullable<Timestamp>,
        resolved_by -> Nullable<Integer>,
    }
}

diesel::table! {
    cluster_events (id) {
        id -> Integer,
        event_uid -> Text,
        cluster_id -> Text,
        namespace -> Text,
        name -> Text,
        #[sql_name = "type"]
        type_ -> Text,
        reason -> Text,
        message -> Text,
        source_component -> Text,
        source_host -> Text,
        involved_kind -> Text,
        involved_name -> Text,
        involved_namespace -> Text,
        involved_uid -> Text,
        first_timestamp -> Nullable<Timestamp>,
        last_timestamp -> Timestamp,
        count -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    event_resource_snapshot (id) {
        id -> Integer,
        event_id -> Integer,
        resource_kind -> Text,
        resource_name -> Text,
        resource_namespace -> Text,
        resource_uid -> Text,
        snapshot_data -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    node_metrics_latest (cluster_id, node_name) {
        cluster_id -> Text,
        node_name -> Text,
        timestamp -> Timestamp,
        snapshot -> Text,
        cpu_usage -> Double,
        mem_usage -> Double,
        disk_usage -> Double,
        temperature -> Double,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    node_metrics_history (id) {
        id -> Integer,
        cluster_id -> Text,
        node_name -> Text,
        timestamp -> Timestamp,
        cpu_usage -> Double,
        mem_usage -> Double,
        disk_usage -> Double,
        net_rx_bytes -> Double,
        net_tx_bytes -> Double,
        temperature -> Double,
    }
}

diesel::table! {
    settings (key) {
        key -> Text,
        value -> Text,
        description -> Text,
        updated_at -> Timestamp,
        updated_by -> Nullable<Integer>,
    }
}

diesel::table! {
    alert_rules (id) {
        id -> Integer,
        name -> Text,
        description -> Text,
        builtin -> Nullable<Text>,
        cluster_id -> Nullable<Text>,
        namespace -> Nullable<Text>,
        labels -> Text,
        resource_type -> Text,
        condition -> Text,
        severity -> Text,
        enabled -> Bool,
        notify_channels -> Text,
        cooldown_sec -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        created_by -> Nullable<Integer>,
    }
}

diesel::table! {
    alert_history (id) {
        id -> Integer,
        uid -> Text,
        rule_id -> Nullable<Integer>,
        rule_name -> Text,
        fingerprint -> Text,
        cluster_id -> Text,
        severity -> Text,
        title -> Text,
        message -> Text,
        resource_kind -> Text,
        resource_namespace -> Text,
        resource_name -> Text,
        value -> Nullable<Double>,
        details -> Text,
        status -> Text,
        fired_at -> Timestamp,
        resolved_at -> Nullable<Timestamp>,
        notified -> Bool,
        suppressed -> Nullable<Text>,
        last_notified_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    silences (id) {
        id -> Integer,
        cluster_id -> Nullable<Text>,
        rule -> Nullable<Text>,
        resource -> Nullable<Text>,
        starts_at -> Timestamp,
        ends_at -> Timestamp,
        comment -> Text,
        created_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    notify_channels (id) {
        id -> Integer,
        #[sql_name = "type"]
        type_ -> Text,
        name -> Text,
        enabled -> Bool,
        config -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        updated_by -> Nullable<Integer>,
    }
}

diesel::table! {
    notify_deliveries (id) {
        id -> Integer,
        channel -> Text,
        kind -> Text,
        alert_uid -> Nullable<Text>,
        cluster_id -> Text,
        rule_name -> Text,
        title -> Text,
        message -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        last_error -> Nullable<Text>,
        digest_id -> Nullable<Integer>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    slo_routes (cluster_id, domain, path_prefix) {
        cluster_id -> Text,
        domain -> Text,
        path_prefix -> Text,
        service_key -> Text,
        service_name -> Text,
        service_port -> Integer,
        ingress_name -> Text,
        namespace -> Text,
        tls -> Bool,
        source -> Text,
        first_seen -> Timestamp,
        last_seen -> Timestamp,
        gone_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    slo_push_state (cluster_id) {
        cluster_id -> Text,
        pushed_at -> Timestamp,
        state -> Text,
        rolled_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    slo_series (cluster_id, resolution, start_at, domain, path_prefix) {
        cluster_id -> Text,
        resolution -> Integer,
        start_at -> Timestamp,
        domain -> Text,
        path_prefix -> Text,
        service_key -> Text,
        requests -> BigInt,
        errors -> BigInt,
        client_errors -> BigInt,
        latency_sum -> Double,
        latency_count -> BigInt,
        buckets -> Text,
        elapsed_ms -> BigInt,
        samples -> Integer,
    }
}

diesel::table! {
    slo_targets (cluster_id, domain, path_prefix, time_range) {
        cluster_id -> Text,
        domain -> Text,
        path_prefix -> Text,
        time_range -> Text,
        availability -> Double,
        p95_latency_ms -> Double,
        updated_at -> Timestamp,
        updated_by -> Nullable<Integer>,
    }
}

diesel::table! {
    slo_status_history (id) {
        id -> Integer,
        cluster_id -> Text,
        domain -> Text,
        path_prefix -> Text,
        time_range -> Text,
        old_status -> Text,
        new_status -> Text,
        availability -> Double,
        p95_latency_ms -> Double,
        error_budget_remaining -> Double,
        changed_at -> Timestamp,
    }
}

diesel::table! {
    ai_providers (id) {
        id -> Integer,
        name -> Text,
        kind -> Text,
        base_url -> Nullable<Text>,
        model -> Text,
        api_key -> Text,
        description -> Text,
        total_requests -> BigInt,
        total_input_tokens -> BigInt,
        total_output_tokens -> BigInt,
        total_errors -> BigInt,
        last_error -> Nullable<Text>,
        last_error_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        created_by -> Nullable<Integer>,
    }
}

diesel::table! {
    ai_settings (id) {
        id -> Integer,
        enabled -> Bool,
        provider_id -> Nullable<Integer>,
        tool_timeout_secs -> Integer,
        updated_at -> Timestamp,
        updated_by -> Nullable<Integer>,
    }
}

diesel::table! {
    ai_conversations (id) {
        id -> Integer,
        user_id -> Integer,
        cluster_id -> Nullable<Text>,
        title -> Text,
        message_count -> Integer,
        total_input_tokens -> BigInt,
        total_output_tokens -> BigInt,
        total_tool_calls -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    ai_messages (id) {
        id -> Integer,
        conversation_id -> Integer,
        role -> Text,
        content -> Text,
        status -> Text,
        error -> Nullable<Text>,
        input_tokens -> BigInt,
        output_tokens -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    ai_tool_calls (id) {
        id -> Integer,
        message_id -> Integer,
        round -> Integer,
        call_id -> Text,
        name -> Text,
        input -> Text,
        output -> Text,
        success -> Bool,
        duration_ms -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    ai_proposals (id) {
        id -> Integer,
        conversation_id -> Nullable<Integer>,
        user_id -> Integer,
        username -> Text,
        cluster_id -> Text,
        action -> Text,
        target_kind -> Text,
        target_namespace -> Text,
        target_name -> Text,
        params -> Text,
        reason -> Text,
        status -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        decided_at -> Nullable<Timestamp>,
        decided_by -> Nullable<Text>,
        command_id -> Nullable<Text>,
    }
}

diesel::table! {
    cluster_agents (cluster_id) {
        cluster_id -> Text,
        agent_version -> Nullable<Text>,
        version_source -> Text,
        hostname -> Text,
        reported_ip -> Text,
        remote_addr -> Text,
        user_agent -> Text,
        first_seen -> Timestamp,
        last_seen -> Timestamp,
        connected_at -> Nullable<Timestamp>,
        disconnected_at -> Nullable<Timestamp>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    agent_versions (id) {
        id -> Integer,
        version -> Text,
        release_date -> Nullable<Timestamp>,
        is_latest -> Bool,
        is_minimum -> Bool,
        min_master_version -> Nullable<Text>,
        notes -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    cluster_changes (id) {
        id -> Integer,
        cluster_id -> Text,
        time -> Timestamp,
        last_time -> Timestamp,
        kind -> Text,
        namespace -> Text,
        name -> Text,
        change_type -> Text,
        summary -> Text,
        old_value -> Text,
        new_value -> Text,
        count -> Integer,
        command_id -> Nullable<Text>,
        tier -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    change_state (cluster_id) {
        cluster_id -> Text,
        snapshot_at -> Timestamp,
        state -> Text,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(ai_messages -> ai_conversations (conversation_id));
diesel::joinable!(ai_tool_calls -> ai_messages (message_id));

diesel::joinable!(event_resource_snapshot -> cluster_events (event_id));

diesel::joinable!(tokens -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    clusters,
    command_history,
    users,
    tokens,
    agent_tokens,
    audit_logs,
    security_events,
    cluster_events,
    event_resource_snapshot,
    node_metrics_latest,
    node_metrics_history,
    settings,
    alert_rules,
    alert_history,
    silences,
    notify_channels,
    notify_deliveries,
    slo_routes,
    slo_push_state,
    slo_series,
    slo_targets,
    slo_status_history,
    ai_providers,
    ai_settings,
    ai_conversations,
    ai_messages,
    ai_tool_calls,
    ai_proposals,
    cluster_agents,
    agent_versions,
    cluster_changes,
    change_state
);

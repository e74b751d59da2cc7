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

diesel::allow_tables_to_appear_in_same_query!(clusters, command_history);

"""The media stages: the only room that runs ffmpeg and ffprobe. Import each name from its module.

Probing and facts
    ``ffprobe``         ffprobe (the one place it runs: ``ffprobe -v error -of json ...``, parsed)
    ``probe``           MediaInfo, VideoStream, AudioStream, SubtitleStream, MAX_SIDE, MAX_PIXELS, probe,
                        parse_rate, require_video
    ``streams``         StreamFacts, Decoded, stream_facts, keyframe_times, decode, decoder_tool, concat_url
    ``packets``         Measured, Packet, measure, video_packets
    ``codecs``          Codec, CODECS, CRF_MAX, ENCODERS, AUDIO_ENCODERS, DEFAULT_PRESET, X26X_PRESETS,
                        PRESET_RANGE, PIX_FMTS, PROFILES, parse_codecs
    ``ffmpeg``          run_ffmpeg, ProgressParser, UNUSED_OPTION

Source QA
    ``qa``              qa (the stage)
    ``qa_records``      QAPolicy, Check, QAReport, Severity
    ``qa_log``          LogParser, QAMeasures (the decode pass's stderr)
    ``qa_checks``       all_checks, check

Encoding
    ``encode``          encode (the stage), plan_title, encode_audio_files, measured_video
    ``renditions``      RateControl, Rendition, AudioRendition, DEFAULT_AUDIO, EncodedFile, EncodeResult,
                        TitleSpec
    ``rung_spec``       parse_rung
    ``encode_args``     video_args, audio_args, video_command, audio_command, audio_suffixes, OUTPUT_TAIL
    ``encode_run``      run_encode (runs one encode, judges its stderr)
    ``chunks``          ChunkPlan, plan_chunks, encode_chunk, join_chunks, encode_audio, encode_chunked,
                        DEFAULT_CHUNK_SECONDS
    ``trim``            Tail, tail
    ``excerpts``        cut_raw, drop_frames
    ``synth``           Recipe, Scene, synthesize, join_scenes, excerpt
    ``subtitles``       to_webvtt
    ``thumbs``          Sprite, sprite

Live
    ``live``            live_argv, LiveEncoder (one ffmpeg: decode once, x264 per rung, LL-DASH into a folder),
                        run_file_names, GROWING_SUFFIX, LOG_NAME; re-exports
                        LiveRung, LiveLadder, parse_ladder, LiveSource, parse_source, LiveStats
    ``live_ladder``     LiveRung, LiveLadder, parse_ladder
    ``live_source``     LiveSource, SourceKind, SOURCE_FORMS, parse_source, input_args
    ``live_stats``      LiveStats, LiveProgress (ffmpeg's -progress reports of a running encoder)

Quality
    ``quality``         vmaf, vmaf_many, score (the stage)
    ``scores``          VmafScore, FrameMetrics, QualityReport, DEFAULT_MODEL, MODEL_4K, MODELS, PSNR_CAP_DB,
                        pick_model, harmonic_mean, percentile
    ``quality_inputs``  Pair, prepare_pair, pair_inputs, duration_tolerance, check_subsample, FALLBACK_FPS
    ``vmaf_graph``      the filter graph pieces (prepared_streams, frame_selection, ffmpeg_inputs, ...)
    ``frame_metrics``   frame_metrics, pair_metrics, paired, ffmpeg_ssim_psnr
    ``segment_quality`` segment_vmaf, per_segment
"""
